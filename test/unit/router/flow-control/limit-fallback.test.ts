// The local stand-in for Redis: mirrored charges, limits scaled to this replica's share, replay of outage charges.
import { expect } from "chai";
import {
  MirroredLeaseStore,
  MirroredWindowStore,
  PendingCharges,
  ReplicaShareLeaseStore,
  ReplicaShareWindowStore,
  shareOf,
} from "../../../../router/flow-control/limits/fallback.js";
import { MemoryLeaseStore } from "../../../../router/flow-control/limits/leases.js";
import { MemoryWindowStore, type WindowSpec } from "../../../../router/flow-control/limits/window-store.js";

const minute: WindowSpec = { windowMs: 60_000, slices: 60 };

describe("limits while Redis is away", () => {
  it("scales a limit to the replica's share, rounding up and never to 0", () => {
    expect(shareOf(3000, 1 / 2)).to.equal(1500);
    expect(shareOf(5, 1 / 2)).to.equal(3);
    expect(shareOf(1, 1 / 4)).to.equal(1);
    expect(shareOf(0, 1 / 2)).to.equal(0);
    expect(shareOf(Infinity, 1 / 3)).to.equal(Infinity);
  });

  it("mirrors what the remote accepted into the local windows, and nothing it refused", async () => {
    const remote = new MemoryWindowStore();
    const local = new MemoryWindowStore();
    const mirrored = new MirroredWindowStore(remote, local);
    for (let i = 0; i < 8; i++) await mirrored.hit("rpm:u", minute, 5, 1, 1000 + i);
    expect(await local.usage("rpm:u", minute, 2000)).to.equal(5);
    await mirrored.add("tpm:u", minute, 40, 2000);
    await mirrored.add("tpm:u", minute, -15, 2000, 0);
    expect(await local.usage("tpm:u", minute, 2000)).to.equal(25);
    expect(await remote.usage("tpm:u", minute, 2000)).to.equal(25);
  });

  it("enforces the share on top of what was mirrored, and keeps each local charge for replay", async () => {
    const local = new MemoryWindowStore();
    const pending = new PendingCharges();
    let replicas = 2;
    const share = new ReplicaShareWindowStore(local, () => 1 / replicas, pending);
    await local.add("rpm:u", minute, 2, 1000); // mirrored before the outage
    const admitted = [];
    for (let i = 0; i < 10; i++) admitted.push((await share.hit("rpm:u", minute, 10, 1, 1500 + i)).allowed);
    expect(admitted.filter(Boolean)).to.have.length(3); // ⌈10 / 2⌉ − 2
    replicas = 1; // the other replica left: this one may use the whole limit
    expect((await share.hit("rpm:u", minute, 10, 1, 1600)).allowed).to.equal(true);
    await share.add("tpm:u", minute, -4, 1700);
    const remote = new MemoryWindowStore();
    await pending.replay(remote, () => 1800);
    expect(await remote.usage("rpm:u", minute, 1800)).to.equal(4);
    expect(await remote.usage("tpm:u", minute, 1800)).to.equal(-4);
    expect(pending.size).to.equal(0);
  });

  it("keeps a charge whose replay failed, and bounds what it keeps", async () => {
    const pending = new PendingCharges(3);
    for (let b = 0; b < 5; b++) pending.record("k", minute, 1, b);
    expect(pending.size).to.equal(3);
    const failing = new MemoryWindowStore();
    failing.add = () => Promise.reject(new Error("Command timed out"));
    let error: unknown;
    await pending.replay(failing, () => 0).catch((e: unknown) => (error = e));
    expect(String(error)).to.include("timed out");
    expect(pending.size).to.equal(3);
  });

  it("holds remote leases locally too, so the share counts this replica's requests in flight", async () => {
    const remote = new MemoryLeaseStore();
    const local = new MemoryLeaseStore();
    const mirrored = new MirroredLeaseStore(remote, local);
    expect(await mirrored.acquire("model:m", 4, 60_000, "a")).to.equal(true);
    expect(await mirrored.acquire("model:m", 4, 60_000, "b")).to.equal(true);
    const share = new ReplicaShareLeaseStore(local, () => 1 / 2);
    expect(await share.acquire("model:m", 4, 60_000, "c")).to.equal(false); // ⌈4 / 2⌉ = 2 already held
    await mirrored.release("model:m", "a");
    expect(await local.count("model:m")).to.equal(1);
    expect(await share.acquire("model:m", 4, 60_000, "c")).to.equal(true);
  });
});
