"""Sign-in hardening: TOTP two-factor with recovery codes, login lockout, idle sessions, CSP."""
