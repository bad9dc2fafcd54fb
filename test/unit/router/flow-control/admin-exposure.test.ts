import { expect } from "chai";
import { pino } from "pino";
import { createFlowControl } from "../../../../router/flow-control/create.js";

describe("users admin API exposure", () => {
  const logger = pino({ level: "silent" });

  it("refuses to listen off loopback without an admin token, naming the fix", async () => {
    const open = await createFlowControl({ logger, auth: "keys" });
    try {
      let failure: unknown;
      await open.startAdminServer(0, "0.0.0.0").catch((err: unknown) => (failure = err));
      expect(String(failure)).to.match(/admin API on 0\.0\.0\.0.*AIBRIX_ADMIN_TOKEN.*127\.0\.0\.1/);
      const local = await open.startAdminServer(0, "127.0.0.1");
      await local.close();
    } finally {
      await open.close();
    }
    const guarded = await createFlowControl({ logger, auth: "keys", adminToken: "t0ken" });
    try {
      const s = await guarded.startAdminServer(0, "0.0.0.0");
      const res = await fetch(`http://127.0.0.1:${s.port}/v1/users`);
      expect(res.status).to.equal(401);
      await s.close();
    } finally {
      await guarded.close();
    }
  });
});
