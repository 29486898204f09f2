// The public entry of the HTTP service (src/index.ts exports from here); the service is in app.ts.
export { ApiKeys, DEFAULT_LIMITS, DEFAULT_TIMEOUTS, createServer, type ServerControl, type ServerLimits, type ServerOptions, type ServerState, type ServerTimeouts } from './app.js';
