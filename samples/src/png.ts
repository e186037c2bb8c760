/**
 * The prompt-mask PNG writer is the engine's (one PNG encoder in the project); re-exported here so
 * the generator's modules keep one import site.
 */
export { encodeGrayPng } from 'cineseg';
