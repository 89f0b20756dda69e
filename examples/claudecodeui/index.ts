// claudecodeui's websocket module (server/modules/websocket/index.ts), served by agent-gateway.
import type { Server } from 'node:http';
import { createClaudeCodeUiWebSocketServer, type ClaudeCodeUiDeps } from 'agent-gateway/claudecodeui';
import { projectsDb, sessionsDb } from '@/modules/database/index.js';
import { handleDesktopNotificationsConnection } from '@/modules/notifications/index.js';
import { generateDisplayName } from '@/modules/projects/index.js';
import { providerModelsService } from '@/modules/providers/index.js';
import { filterAttachmentsToUploadStore } from '@/modules/websocket/services/chat-websocket.service.js';
import { isImageAttachmentDescriptor, normalizeAttachmentDescriptors } from '@/shared/image-attachments.js';
import type { LLMProvider } from '@/shared/types.js';

export { WS_OPEN_STATE, chatRunRegistry, connectedClients } from 'agent-gateway';

const host = { sessionsDb, projectsDb, generateDisplayName, providerModelsService, normalizeAttachmentDescriptors, filterAttachmentsToUploadStore, isImageAttachmentDescriptor, handleDesktopNotificationsConnection };

export function createWebSocketServer(server: Server, deps: ClaudeCodeUiDeps<LLMProvider>) {
  return createClaudeCodeUiWebSocketServer(server, deps, host);
}
