// The component toolkit, vendored (api/static/vendor, pinned in vendor/refresh.sh): Preact renders and patches the
// DOM in place (keyed lists keep their nodes, so a live update never rebuilds what is under a finger or moves focus);
// htm gives JSX-like templates without a build step.
import { h, render, Fragment } from "./vendor/preact/preact.module.js";
import { useState, useEffect, useRef, useMemo, useCallback } from "./vendor/preact/hooks.module.js";
import htm from "./vendor/htm/htm.module.js";

export const html = htm.bind(h);
export { h, render, Fragment, useState, useEffect, useRef, useMemo, useCallback };
