/**
 * container runtime driver: workloads as hardened containers on the Docker Engine API (Docker or Podman's
 * compatible socket). See ./runtime.ts and docs/adr/0022-container-runtime.md.
 */
export { ContainerRuntime, type ContainerRuntimeOptions } from './runtime.js';
export { deploymentNetwork } from './engine.js';
export { BRIDGE_PATH, CONTAINER_HOME, DEFAULT_UID, LABEL_OWNER } from './create-options.js';
