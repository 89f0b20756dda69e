/**
 * agent-gateway's public API: embed the gateway in an `http.Server` with
 * `createWebSocketServer(server, deps)`, in the shape claudecodeui uses.
 */
export {
  createWebSocketServer,
  connectedClients,
  chatRunRegistry,
  broadcast,
  WS_OPEN_STATE,
  CLOSE_CODES,
  DEFAULT_DATABASE_PATH,
  type GatewayHandle,
  type GatewayHealth,
  type ChatRunRegistry,
} from './createWebSocketServer.js';
export type { RunningRun } from './chat/chatRoute.js';
export type {
  GatewayDeps,
  GatewayUser,
  VerifyClientDeps,
  ChatDeps,
  ShellDeps,
  ExtraRoutes,
  ProviderRuntime,
  RuntimeWriter,
  PermissionDecision,
  NormalizedMessage,
  AttentionEvent,
  RunPreparation,
} from './types.js';
export { DEFAULT_LIMITS, resolveLimits, type GatewayLimits } from './config.js';
export { createConsoleLogger, silentLogger, type Logger, type LogLevel } from './logger.js';
export type { Clock, Inspector } from './actorHost.js';
export { PROTOCOL_ERRORS, type ProtocolErrorCode } from '../machines/protocolErrors.js';
/**
 * The default session store, for an embedder that lets the gateway keep its sessions: open the
 * database file the gateway uses (`databasePath`) and create sessions there before clients send
 * in them.
 */
export { openSessionStore, type SessionStoreFile } from '../persistence/sessionStoreFile.js';
export {
  SessionLimitError,
  SessionCursorError,
  DEFAULT_SESSION_PAGE,
  MAX_SESSION_PAGE,
  type SqliteSessionStore,
  type SqliteSessionStoreOptions,
  type CreateSessionInput,
  type CreateSessionOptions,
} from '../persistence/sessionStoreApi.js';
export type {
  ListedSession,
  SessionPage,
  SessionPageRequest,
  SessionStore,
  SessionRecord,
  SessionDescription,
  ChatEventLog,
  LoggedEvent,
  EventLogHealth,
} from '../persistence/types.js';
export { GATEWAY_V8_FLAGS, tuneV8ForGateway, v8FlagsMissingFromCommandLine } from './v8Tuning.js';
export { createDemoRuntime } from './app/demoAgent.js';
export { createGatewayInspector, type GatewayInspector, type GatewayInspectorOptions } from './inspect.js';
export { startInspectorBridge, type InspectorBridge, type InspectorBridgeOptions } from './app/inspectBridge.js';
export { createSessionRecorder, type SessionRecorder, type SessionRecorderOptions } from './app/recording/recorder.js';
