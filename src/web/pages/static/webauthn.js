// Passkeys on our pages: the browser's side of WebAuthn, through @simplewebauthn/browser (served beside
// this file as simplewebauthn-browser.js, from our own origin). The pages hold no inline script: a form
// says what it does with data-webauthn ("register", "authenticate" or "login") and carries its options
// in data-options, or fetches them from data-options-url. The browser's answer goes into the form's
// hidden `credential` field, and the form is sent as any other, with its anti-forgery token.
(function () {
  'use strict';
  var lib = window.SimpleWebAuthnBrowser;
  var supported = Boolean(lib && lib.browserSupportsWebAuthn());

  document.querySelectorAll('[data-webauthn-unsupported]').forEach(function (note) {
    note.hidden = supported;
  });

  document.querySelectorAll('form[data-webauthn]').forEach(function (form) {
    if (!supported) return;
    form.hidden = false;
    var error = form.querySelector('[data-webauthn-error]');
    var button = form.querySelector('button[type=submit]');

    async function options() {
      if (form.dataset.options) return JSON.parse(form.dataset.options);
      var response = await fetch(form.dataset.optionsUrl, { headers: { accept: 'application/json' }, credentials: 'same-origin' });
      var body = await response.json();
      if (!response.ok) throw new Error(body.message || 'The passkey sign-in could not start.');
      return body.options;
    }

    form.addEventListener('submit', async function (event) {
      event.preventDefault();
      if (error) error.hidden = true;
      button.disabled = true;
      try {
        var optionsJSON = await options();
        var answer = form.dataset.webauthn === 'register'
          ? await lib.startRegistration({ optionsJSON: optionsJSON })
          : await lib.startAuthentication({ optionsJSON: optionsJSON });
        form.elements.credential.value = JSON.stringify(answer);
        form.submit();
      } catch (failure) {
        button.disabled = false;
        if (error) {
          error.textContent = failure && failure.name === 'NotAllowedError'
            ? 'The passkey prompt was closed or timed out. Try again.'
            : (failure && failure.message) || 'The passkey could not be used.';
          error.hidden = false;
        }
      }
    });
  });
})();
