/* UTF-8 validation and encoding; see utf8.h. */
#include "utf8.h"

bool utf8_valid(const uint8_t *bytes, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint8_t lead = bytes[i];
        if (lead < 0x80) {
            i++;
            continue;
        }
        size_t tail;
        uint32_t point;
        if (lead >= 0xC2 && lead <= 0xDF) {
            tail = 1;
            point = lead & 0x1F;
        } else if ((lead & 0xF0) == 0xE0) {
            tail = 2;
            point = lead & 0x0F;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            tail = 3;
            point = lead & 0x07;
        } else {
            return false; /* a continuation byte, C0/C1 or F5..FF */
        }
        if (len - i - 1 < tail) {
            return false;
        }
        for (size_t k = 1; k <= tail; k++) {
            uint8_t next = bytes[i + k];
            if ((next & 0xC0) != 0x80) {
                return false;
            }
            point = (point << 6) | (next & 0x3F);
        }
        if (tail == 2 && (point < 0x800 || (point >= 0xD800 && point <= 0xDFFF))) {
            return false; /* overlong, or a UTF-16 surrogate */
        }
        if (tail == 3 && (point < 0x10000 || point > 0x10FFFF)) {
            return false;
        }
        i += tail + 1;
    }
    return true;
}

size_t utf8_encode(uint32_t point, char out[4]) {
    if (point < 0x80) {
        out[0] = (char)point;
        return 1;
    }
    if (point < 0x800) {
        out[0] = (char)(0xC0 | (point >> 6));
        out[1] = (char)(0x80 | (point & 0x3F));
        return 2;
    }
    if (point < 0x10000) {
        out[0] = (char)(0xE0 | (point >> 12));
        out[1] = (char)(0x80 | ((point >> 6) & 0x3F));
        out[2] = (char)(0x80 | (point & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (point >> 18));
    out[1] = (char)(0x80 | ((point >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((point >> 6) & 0x3F));
    out[3] = (char)(0x80 | (point & 0x3F));
    return 4;
}
