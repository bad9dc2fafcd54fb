// Writes a reconciler makes: status through /status with optimistic concurrency, finalizers, and owned objects
// created or brought back to what the controller wants. Each retries a conflict against the latest version.
import { isConflict, isNotFound, type KubeClient } from "./request.js";
import { objectKey, objectPath, type KubeObject, type ResourceRef } from "./objects.js";

/** Runs `attempt` again (up to `tries` times) while it fails with 409 Conflict. */
export async function retryOnConflict<T>(attempt: () => Promise<T>, tries = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (!isConflict(err) || i >= tries) throw err;
    }
  }
}

/**
 * Writes `status` to the object's /status subresource as a merge patch guarded by the cached resourceVersion; on a
 * conflict it reads the latest version and writes the same status over it (the status is this controller's own
 * observation, so the newest spec does not change what it says — the next reconcile will see that spec).
 */
export async function patchStatus<S>(
  client: KubeClient,
  ref: ResourceRef,
  obj: KubeObject,
  status: S,
): Promise<KubeObject> {
  const path = objectPath(ref, objectKey(obj), "status");
  let version = obj.metadata?.resourceVersion;
  return await retryOnConflict(async () => {
    try {
      return await client.patch<KubeObject>(path, { metadata: { resourceVersion: version }, status });
    } catch (err) {
      if (isConflict(err)) {
        version = (await client.get<KubeObject>(objectPath(ref, objectKey(obj)))).metadata?.resourceVersion;
      }
      throw err;
    }
  });
}

/** Sets the finalizer list with a resourceVersion precondition (a merge patch replaces the whole list). */
async function writeFinalizers(client: KubeClient, ref: ResourceRef, obj: KubeObject, finalizers: string[]) {
  return await client.patch<KubeObject>(objectPath(ref, objectKey(obj)), {
    metadata: { resourceVersion: obj.metadata?.resourceVersion, finalizers },
  });
}

export async function addFinalizer(client: KubeClient, ref: ResourceRef, obj: KubeObject, finalizer: string) {
  const list = obj.metadata?.finalizers ?? [];
  if (list.includes(finalizer)) return obj;
  return await writeFinalizers(client, ref, obj, [...list, finalizer]);
}

/** Removes `finalizer`; an object already gone is fine (the deletion finished). */
export async function removeFinalizer(client: KubeClient, ref: ResourceRef, obj: KubeObject, finalizer: string) {
  const list = obj.metadata?.finalizers ?? [];
  if (!list.includes(finalizer)) return obj;
  try {
    return await writeFinalizers(
      client,
      ref,
      obj,
      list.filter((f) => f !== finalizer),
    );
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * Makes the object at `desired`'s key match it: creates it when absent from the cache, replaces it when `differs`
 * says the cached copy is not what we want, does nothing otherwise (no API call for a steady state).
 */
export async function ensureObject<T extends KubeObject>(
  client: KubeClient,
  ref: ResourceRef,
  cached: T | undefined,
  desired: T,
  differs: (cached: T, desired: T) => boolean,
): Promise<"created" | "updated" | "unchanged"> {
  const key = objectKey(desired);
  if (!cached) {
    try {
      await client.create(objectPath(ref, key).replace(/\/[^/]+$/, ""), desired);
      return "created";
    } catch (err) {
      if (!isConflict(err)) throw err;
      // Created meanwhile (our cache lags): fall through to an update against the live object.
      cached = await client.get<T>(objectPath(ref, key));
    }
  }
  if (!differs(cached, desired)) return "unchanged";
  // Replace over the version we hold; only a conflict (someone wrote since) costs a read of the live one.
  let version = cached.metadata?.resourceVersion;
  await retryOnConflict(async () => {
    try {
      await client.replace(objectPath(ref, key), {
        ...desired,
        metadata: { ...desired.metadata, resourceVersion: version },
      });
    } catch (err) {
      if (isConflict(err)) version = (await client.get<T>(objectPath(ref, key))).metadata?.resourceVersion;
      throw err;
    }
  });
  return "updated";
}
