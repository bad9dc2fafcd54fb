// Hot-reloaded documents (GPU profiles, the optimizer's recommended mix) from a file or a ConfigMap. A document that
// fails to parse is reported and the previous good one stays in force: a typo must not empty the fleet.
import { readFile, stat } from "node:fs/promises";
import { unwatchFile, watchFile, type Stats } from "node:fs";
import { SharedInformer } from "../kube/informer.js";
import type { KubeObject } from "../kube/objects.js";
import type { KubeClient } from "../kube/request.js";
import { Resources, scoped } from "../kube/resources.js";

type ConfigMap = KubeObject & { data?: Record<string, string> };

export interface Reloadable<T> {
  current(): T;
  /** Resolves once the first version has been read (at once for files, after the first list for ConfigMaps). */
  loaded: Promise<void>;
  close(): Promise<void>;
}

export interface ReloadHooks {
  onReload(source: string): void;
  onError(source: string, err: Error): void;
}

/** A value that starts from `initial` and is replaced whenever the file changes and parses. */
export async function fileSource<T>(
  file: string,
  parse: (text: string, source: string) => T,
  hooks: ReloadHooks,
  intervalMs = 1000,
): Promise<Reloadable<T>> {
  // The first load must succeed: starting with no profiles would silently change placement.
  let value = parse(await readFile(file, "utf8"), file);
  let lastMtime = (await stat(file)).mtimeMs;
  const listener = (curr: Stats): void => {
    if (curr.mtimeMs === lastMtime || curr.nlink === 0) return;
    lastMtime = curr.mtimeMs;
    readFile(file, "utf8")
      .then((text) => {
        value = parse(text, file);
        hooks.onReload(file);
      })
      .catch((err: unknown) => hooks.onError(file, err instanceof Error ? err : new Error(String(err))));
  };
  // Polling follows the ConfigMap-volume pattern (a symlink swapped atomically), where fs.watch loses the inode.
  watchFile(file, { interval: intervalMs, persistent: false }, listener);
  return {
    current: () => value,
    loaded: Promise.resolve(),
    close: async () => unwatchFile(file, listener),
  };
}

/** A value read from one data key of a ConfigMap, kept current by a watch. */
export async function configMapSource<T>(
  client: KubeClient,
  ref: { namespace: string; name: string },
  keys: readonly string[],
  parse: (text: string, source: string) => T,
  initial: T,
  hooks: ReloadHooks,
): Promise<Reloadable<T>> {
  let value = initial;
  let markLoaded: () => void = () => undefined;
  const loaded = new Promise<void>((resolve) => (markLoaded = resolve));
  const where = `configmap ${ref.namespace}/${ref.name}`;
  const informer = new SharedInformer<ConfigMap>(
    client,
    scoped(Resources.configMaps, { namespace: ref.namespace, fieldSelector: `metadata.name=${ref.name}` }),
    { onError: (err) => hooks.onError(where, err) },
  );
  const apply = (cm: ConfigMap): void => {
    const key = keys.find((k) => cm.data?.[k] !== undefined);
    if (!key) {
      hooks.onError(where, new Error(`${where} has none of the data keys ${keys.join(", ")}; add one`));
      return;
    }
    try {
      value = parse(cm.data![key]!, `${where} key ${key}`);
      markLoaded();
      hooks.onReload(where);
    } catch (err) {
      hooks.onError(where, err instanceof Error ? err : new Error(String(err)));
    }
  };
  informer.addHandler({ onAdd: apply, onUpdate: (_, cm) => apply(cm) });
  informer.start();
  await informer.synced;
  return { current: () => value, loaded, close: () => informer.stop() };
}

/** A fixed value (tests, or no source configured). */
export function staticSource<T>(value: T): Reloadable<T> {
  return { current: () => value, loaded: Promise.resolve(), close: async () => undefined };
}
