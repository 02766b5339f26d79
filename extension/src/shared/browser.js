// The WebExtension API object of either browser (Firefox: promise-based `browser`; Chrome MV3:
// `chrome`, whose APIs return promises too).
export const api = globalThis.browser ?? globalThis.chrome;
export const HOST_NAME = "org.passbridge.host";
export const isFirefox = typeof globalThis.browser !== "undefined" && Boolean(globalThis.browser?.runtime?.getBrowserInfo);
