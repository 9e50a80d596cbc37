"""Ferry's auth service: users, sign-in, access and refresh tokens, and the JWKS others verify with."""
