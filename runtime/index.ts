// The engine runtime sidecar deployable.
export { startRuntime, type RuntimeOptions, type RunningRuntime } from "./server.js";
