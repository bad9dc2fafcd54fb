// Where the serving certificate lives and who is told about its CA. Behind interfaces so unit tests use memory and
// the deployed server uses the API server (kube-store.ts); the certificate manager only relies on these semantics.

/** A Secret's data (decoded to text) and the version it was read at. */
export interface StoredSecret {
  data: Record<string, string>;
  resourceVersion: string;
}

/** The write lost a race: the Secret exists (create) or changed since it was read (update). Re-read and retry. */
export class ConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConflictError";
  }
}

export interface SecretStore {
  read(namespace: string, name: string): Promise<StoredSecret | undefined>;
  /** Creates the Secret; throws ConflictError when it already exists (HTTP 409). */
  create(namespace: string, name: string, data: Record<string, string>): Promise<StoredSecret>;
  /** Replaces the data if the Secret is still at `resourceVersion`; else throws ConflictError. */
  update(namespace: string, name: string, data: Record<string, string>, resourceVersion: string): Promise<StoredSecret>;
}

/** Tells the API server which CA to trust when calling us (caBundle of our webhook configurations). */
export interface CaBundlePublisher {
  publishCaBundle(caBundlePem: string): Promise<void>;
}

/** Secrets in memory with real optimistic concurrency; `latencyMs` lets tests interleave concurrent writers. */
export class MemorySecretStore implements SecretStore {
  private readonly secrets = new Map<string, StoredSecret>();
  private version = 0;
  writes = 0;

  constructor(private readonly latencyMs = 0) {}

  private async pause(): Promise<void> {
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
  }

  async read(namespace: string, name: string): Promise<StoredSecret | undefined> {
    await this.pause();
    const s = this.secrets.get(`${namespace}/${name}`);
    return s && { data: { ...s.data }, resourceVersion: s.resourceVersion };
  }

  async create(namespace: string, name: string, data: Record<string, string>): Promise<StoredSecret> {
    await this.pause();
    const key = `${namespace}/${name}`;
    if (this.secrets.has(key)) throw new ConflictError(`secret ${key} already exists`);
    return this.store(key, data);
  }

  async update(namespace: string, name: string, data: Record<string, string>, resourceVersion: string) {
    await this.pause();
    const key = `${namespace}/${name}`;
    const current = this.secrets.get(key);
    if (!current || current.resourceVersion !== resourceVersion) {
      throw new ConflictError(`secret ${key} changed since resourceVersion ${resourceVersion}`);
    }
    return this.store(key, data);
  }

  private store(key: string, data: Record<string, string>): StoredSecret {
    this.writes++;
    const s = { data: { ...data }, resourceVersion: String(++this.version) };
    this.secrets.set(key, s);
    return { data: { ...s.data }, resourceVersion: s.resourceVersion };
  }
}

/** Remembers what was published (tests assert on it). */
export class MemoryCaBundlePublisher implements CaBundlePublisher {
  published: string[] = [];
  async publishCaBundle(caBundlePem: string): Promise<void> {
    this.published.push(caBundlePem);
  }
}
