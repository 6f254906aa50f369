// Tessera's passkey buttons. A form marked data-passkey="create" or "get"
// asks Tessera for WebAuthn options (posting its own fields to the URL in
// data-options), runs the browser's ceremony, puts the answer in the form's
// hidden "credential" field and submits the form. Without this script (or
// without WebAuthn), the forms stay hidden and nothing else changes.
(() => {
  'use strict';
  if (!window.PublicKeyCredential || !PublicKeyCredential.parseRequestOptionsFromJSON) return;

  const say = (form, text) => {
    const out = form.querySelector('[data-passkey-error]');
    if (out) out.textContent = text;
  };

  const ceremony = async (form) => {
    const body = new URLSearchParams(new FormData(form));
    body.delete('credential');
    const answer = await fetch(form.dataset.options, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
      credentials: 'same-origin',
    });
    const json = await answer.json().catch(() => ({}));
    if (!answer.ok || !json.options) {
      throw new Error((json.error && json.error.message) || 'Passkeys are not available right now.');
    }
    const credential = form.dataset.passkey === 'create'
      ? await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(json.options) })
      : await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(json.options) });
    form.querySelector('input[name="credential"]').value = JSON.stringify(credential.toJSON());
    form.submit();
  };

  for (const form of document.querySelectorAll('form[data-passkey]')) {
    form.hidden = false;
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      say(form, '');
      const button = form.querySelector('button');
      if (button) button.disabled = true;
      ceremony(form).catch((error) => {
        if (button) button.disabled = false;
        say(form, error.name === 'NotAllowedError'
          ? 'The passkey was not used. Try again, or sign in another way.'
          : error.message);
      });
    });
  }
})();
