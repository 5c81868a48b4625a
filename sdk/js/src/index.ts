/** vitals client SDK: the platform-neutral core. */
export { Vitals } from './core/client.js';
export type { VitalsOptions, ConsentChoice } from './core/client.js';
export type { Adapter, Hooks, Http, HttpRequest, HttpResponse, Storage, CaughtError, PerfSample } from './core/adapter.js';
export { sign, canonical, bodyDigest, signedHeaders, hashUserId, SCHEME } from './core/sign.js';
export { scrub } from './core/scrub.js';
export { parseStack } from './core/stack.js';
export { verifyConfig, compareVersions, inRollout, CONFIG_PATH, SIGNATURE_HEADER } from './core/config.js';
export type { ClientConfig, Emergency, Latest, MinVersion, Site, SiteAddress, Rollout, Text } from './core/config.js';
export { BATCH_PATH, postBatch } from './core/transport.js';
export { Outbox } from './core/queue.js';
export { asciiJson, utf8, hex, uuid } from './core/util.js';
export type * from './core/types.js';
