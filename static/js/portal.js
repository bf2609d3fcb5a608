// Entry module: wires behaviour to elements by data attributes. No inline scripts (CSP).
import { initCopyButtons } from "./copy.js";

initCopyButtons(document);
