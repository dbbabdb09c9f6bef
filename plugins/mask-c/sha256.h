/*
 * SHA-256 (FIPS 180-4), streaming, with no dependencies beyond <stdint.h>
 * and <stddef.h>, so the same file builds for the Wasm guest and for the
 * native unit tests (test.sh).
 */
#ifndef MASK_SHA256_H
#define MASK_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_BYTES 32
/* Lowercase hex of a digest, plus the terminating NUL. */
#define SHA256_HEX_BYTES (SHA256_DIGEST_BYTES * 2 + 1)

typedef struct sha256 {
    uint32_t state[8];
    /* Message length so far, in bytes (the padding needs it in bits). */
    uint64_t length_bytes;
    /* A partial block waiting for more input; `buffered` bytes are used. */
    uint8_t block[64];
    size_t buffered;
} sha256_t;

void sha256_init(sha256_t *ctx);
void sha256_update(sha256_t *ctx, const void *data, size_t len);
void sha256_final(sha256_t *ctx, uint8_t digest[SHA256_DIGEST_BYTES]);

/* One-shot: writes the lowercase hex digest of `data` and a NUL to `hex`. */
void sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_BYTES]);

#endif
