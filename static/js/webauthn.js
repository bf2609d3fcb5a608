// Security keys and passkeys: <form data-webauthn="create|get" data-webauthn-options="JSON"
// data-webauthn-field="NAME"> asks the browser with the options (made by allauth.mfa on the
// server), puts the answer into the hidden field NAME and submits.
// Forms stay hidden where the browser has no WebAuthn.

export async function createCredential(creationOptions) {
  const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(creationOptions.publicKey);
  return (await navigator.credentials.create({ publicKey })).toJSON();
}

export async function getCredential(requestOptions) {
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(requestOptions.publicKey);
  return (await navigator.credentials.get({ publicKey })).toJSON();
}

export function webauthnAvailable() {
  return Boolean(window.PublicKeyCredential && PublicKeyCredential.parseRequestOptionsFromJSON);
}

export function initWebAuthnForms(root) {
  if (!webauthnAvailable()) return;
  root.querySelectorAll("form[data-webauthn]").forEach((form) => {
    form.hidden = false;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const ask = form.dataset.webauthn === "create" ? createCredential : getCredential;
      try {
        const answer = await ask(JSON.parse(form.dataset.webauthnOptions));
        form.elements[form.dataset.webauthnField].value = JSON.stringify(answer);
        form.submit();
      } catch (problem) {
        const live = document.getElementById("live-status");
        if (live) live.textContent = `The security key did not answer: ${problem.message}`;
      }
    });
  });
}
