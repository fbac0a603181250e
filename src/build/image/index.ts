/** Image builds and pushes through the Docker Engine API (issue 12, "Build and push"). */
export { buildContext, dockerignoreMatcher, listContext, localFileDependencies, localRequirementFiles, packEntries, type ContextEntry, type ContextOptions, type ExtraFile } from './context.js';
export { buildImage, engineError, type BuildRequest, type BuildResult } from './engine.js';
export { buildSourceImage, ownDockerfile, type ImageBuildOptions, type SourceImageRequest, type SourceImageResult } from './build.js';
export { pullImage, pushImage, splitRef, type PushOptions } from './push.js';

/** Labels every image Berth builds carries (the container runtime's owner labels, plus the source it came from). */
export const IMAGE_LABEL_DEPLOYMENT = 'berth.deployment';
export const IMAGE_LABEL_REVISION = 'berth.revision';
export const IMAGE_LABEL_SOURCE = 'berth.source-digest';
/** What the image was built from (source digest, detection, start and args, base image): revisions that agree share it. */
export const IMAGE_LABEL_BUILD_KEY = 'berth.build-key';
/** Set on images whose entry point is Berth's bridge: a runtime may pass BERTH_BRIDGE_TOKEN and send it as a bearer token. */
export const IMAGE_LABEL_BRIDGE = 'berth.bridge';
