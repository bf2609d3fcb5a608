// Entry module: wires behaviour to elements by data attributes. No inline scripts (CSP).
import { initConnectionTest } from "./checks.js";
import { initCopyButtons } from "./copy.js";
import { initSecretCopy } from "./reveal.js";
import { initRotation } from "./rotation.js";
import { initSnippetPickers } from "./snippets.js";
import { initWebAuthnForms } from "./webauthn.js";

initCopyButtons(document);
initSecretCopy(document);
initSnippetPickers(document);
initRotation(document);
initConnectionTest(document);
initWebAuthnForms(document);
// A page that only carries a confirmed action on (accounts/step_up_resume.html).
document.querySelectorAll("form[data-autosubmit]").forEach((form) => form.requestSubmit());
