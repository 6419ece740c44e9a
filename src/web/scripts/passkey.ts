// The passkey ceremonies of the portal's forms, as a static script (no inline script: the CSP
// allows only 'self'). A form with data-webauthn="authenticate" or "register" carries its
// options (JSON, from the server) in data-options; the script runs the ceremony with
// @simplewebauthn/browser (served beside it, webauthn-browser.ts), writes the answer into the
// form's `credential` field and submits the form, so the server's answer is an ordinary page
// or redirect. A registering form's submit button may carry its own data-options (a security
// key for the second step only; the invitation's passkey, whose form's other button posts a
// password); data-username-field names the field whose value names a passkey for an account not
// made yet. A form marked data-autofill="true" also starts conditional mediation: the
// browser offers passkeys in the autofill of the username field (autocomplete="username webauthn").
export const PASSKEY_SOURCE = `(function () {
  'use strict';
  var W = window.SimpleWebAuthnBrowser;
  var forms = document.querySelectorAll('form[data-webauthn]');
  function say(form, text) {
    var s = form.querySelector('[data-webauthn-status]');
    if (s) s.textContent = text;
  }
  function why(err) {
    var name = err && err.name;
    if (name === 'NotAllowedError' || name === 'AbortError') return 'The passkey prompt was closed or timed out. Try again.';
    if (name === 'InvalidStateError') return 'This passkey is registered already.';
    return 'Your browser could not use a passkey here.';
  }
  Array.prototype.forEach.call(forms, function (form) {
    var kind = form.getAttribute('data-webauthn');
    var field = form.querySelector('input[name="credential"]');
    var options = null;
    if (form.hasAttribute('data-options')) {
      try { options = JSON.parse(form.getAttribute('data-options')); } catch (e) { return; }
    }
    if (!W || !field) return;
    if (!W.browserSupportsWebAuthn()) { say(form, 'This browser does not support passkeys.'); return; }
    function run(autofill, own) {
      var ceremony = kind === 'register'
        ? W.startRegistration({ optionsJSON: own || options })
        : W.startAuthentication({ optionsJSON: options, useBrowserAutofill: autofill });
      return ceremony.then(function (answer) {
        field.value = JSON.stringify(answer);
        form.submit();
      }, function (err) { if (!autofill) say(form, why(err)); });
    }
    form.addEventListener('submit', function (ev) {
      if (field.value) return;
      var own = null;
      var b = ev.submitter;
      if (b && b.hasAttribute('data-options')) {
        try { own = JSON.parse(b.getAttribute('data-options')); } catch (e) { return; }
      }
      // A form whose only ceremony is on another button (the invitation's password button): post it.
      if (!own && !options) return;
      ev.preventDefault();
      say(form, '');
      var named = form.getAttribute('data-username-field');
      if (kind === 'register' && named) {
        // An account not made yet: the passkey is named after the username being chosen.
        var input = document.getElementById(named);
        var name = input ? input.value.trim() : '';
        if (!name) { say(form, 'Choose a username first.'); if (input) input.focus(); return; }
        own = JSON.parse(JSON.stringify(own || options));
        own.user.name = name;
        own.user.displayName = name;
      }
      run(false, own);
    });
    if (kind === 'authenticate' && form.getAttribute('data-autofill') === 'true') {
      W.browserSupportsWebAuthnAutofill().then(function (ok) { if (ok) run(true); });
    }
  });
})();
`;
