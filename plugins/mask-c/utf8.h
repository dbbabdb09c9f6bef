/*
 * UTF-8 as RFC 3629 defines it: validation (what the JSON parser accepts)
 * and encoding (what `\u` escapes decode to).
 */
#ifndef MASK_UTF8_H
#define MASK_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when `len` bytes of `bytes` are well-formed UTF-8 (no overlongs, no
 * surrogates, nothing above U+10FFFF). */
bool utf8_valid(const uint8_t *bytes, size_t len);

/* Writes the UTF-8 encoding of `point` (a scalar value, at most U+10FFFF)
 * to `out` and returns its length, 1 to 4. */
size_t utf8_encode(uint32_t point, char out[4]);

#endif
