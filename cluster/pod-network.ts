// Where engine pods can listen. kwok hands pods addresses from the cluster's pod range; a process here stands in for
// a pod's container by listening on that address, so the range must be local. All of 127.0.0.0/8 always is, but
// Endpoints and EndpointSlices refuse loopback addresses. Inside the private network namespace of scripts/netns.sh,
// 10.244.0.0/16 is routed to `lo` (and nothing leaves the namespace): pods there get addresses Services accept.
import net from "node:net";

/** The range scripts/netns.sh makes local, and the pod range to use inside it. */
export const NAMESPACED_POD_CIDR = "10.244.0.0/16";
/** A loopback range for engine pods outside a namespace (Services then get no endpoints). */
export const LOOPBACK_POD_CIDR = "127.244.0.0/16";

function ipv4ToInt(ip: string): number {
  const parts = ip.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`pod range: ${JSON.stringify(ip)} is not an IPv4 address`);
  }
  return (
    (((parts[0] as number) << 24) |
      ((parts[1] as number) << 16) |
      ((parts[2] as number) << 8) |
      (parts[3] as number)) >>>
    0
  );
}

const intToIpv4 = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");

/** First, middle and last host address of an IPv4 CIDR: enough to tell a local route from one local address. */
export function sampleAddresses(cidr: string): string[] {
  const m = /^([\d.]+)\/(\d+)$/.exec(cidr);
  const bits = Number(m?.[2]);
  if (!m || !Number.isInteger(bits) || bits < 8 || bits > 30) {
    throw new Error(`pod range: ${JSON.stringify(cidr)} must be an IPv4 CIDR with a prefix of /8 to /30`);
  }
  const size = 2 ** (32 - bits);
  const base = (ipv4ToInt(m[1] as string) & ~(size - 1)) >>> 0;
  return [base + 1, base + Math.floor(size / 2), base + size - 2].map(intToIpv4);
}

export const isLoopbackCidr = (cidr: string): boolean => cidr.startsWith("127.");

async function canListen(host: string): Promise<boolean> {
  return await new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(0, host, () => server.close(() => resolve(true)));
  });
}

/** Whether this process can listen on addresses throughout `cidr` (a local route covers it). */
export async function podRangeIsLocal(cidr: string): Promise<boolean> {
  for (const ip of sampleAddresses(cidr)) if (!(await canListen(ip))) return false;
  return true;
}

/** Throws, saying what to do, unless `cidr` is local here; for tests and commands that need pods to be reachable. */
export async function assertPodRangeIsLocal(cidr: string): Promise<void> {
  if (await podRangeIsLocal(cidr)) return;
  throw new Error(
    `pod range ${cidr} is not local to this process, so engines cannot listen on pod IPs: run the command under ` +
      `scripts/netns.sh (a private network namespace where ${NAMESPACED_POD_CIDR} is routed to lo), ` +
      `or use a loopback pod range such as ${LOOPBACK_POD_CIDR} (Services then get no endpoints)`,
  );
}
