/*
 * The compact writer: no whitespace, members in tree order, numbers as
 * their stored text, strings escaped the one way json.h specifies.
 */
#include "json.h"

#include <stdlib.h>
#include <string.h>

static bool buf_reserve(json_buf_t *buf, size_t extra) {
    if (buf->cap - buf->len >= extra) {
        return true;
    }
    if (extra > SIZE_MAX / 2 - buf->len) {
        return false;
    }
    size_t cap = buf->cap < 64 ? 64 : buf->cap;
    while (cap - buf->len < extra) {
        cap *= 2;
    }
    char *grown = realloc(buf->ptr, cap);
    if (grown == NULL) {
        return false;
    }
    buf->ptr = grown;
    buf->cap = cap;
    return true;
}

bool json_buf_append(json_buf_t *buf, const void *bytes, size_t len) {
    if (!buf_reserve(buf, len)) {
        return false;
    }
    if (len > 0) {
        memcpy(buf->ptr + buf->len, bytes, len);
    }
    buf->len += len;
    return true;
}

bool json_buf_push(json_buf_t *buf, char byte) { return json_buf_append(buf, &byte, 1); }

static bool write_string(json_buf_t *out, json_text_t text) {
    static const char HEX[] = "0123456789abcdef";
    if (!json_buf_push(out, '"')) {
        return false;
    }
    const uint8_t *bytes = (const uint8_t *)text.ptr;
    size_t run = 0; /* start of the bytes written as they are */
    for (size_t i = 0; i < text.len; i++) {
        uint8_t c = bytes[i];
        char escape;
        switch (c) {
        case '"': escape = '"'; break;
        case '\\': escape = '\\'; break;
        case '\b': escape = 'b'; break;
        case '\f': escape = 'f'; break;
        case '\n': escape = 'n'; break;
        case '\r': escape = 'r'; break;
        case '\t': escape = 't'; break;
        default:
            if (c >= 0x20) {
                continue;
            }
            escape = 'u';
        }
        if (!json_buf_append(out, bytes + run, i - run)) {
            return false;
        }
        run = i + 1;
        if (escape == 'u') {
            char unicode[6] = {'\\', 'u', '0', '0', HEX[c >> 4], HEX[c & 0x0f]};
            if (!json_buf_append(out, unicode, sizeof unicode)) {
                return false;
            }
        } else {
            char pair[2] = {'\\', escape};
            if (!json_buf_append(out, pair, sizeof pair)) {
                return false;
            }
        }
    }
    return json_buf_append(out, bytes + run, text.len - run) && json_buf_push(out, '"');
}

bool json_write(json_buf_t *out, const json_value_t *value) {
    switch (value->kind) {
    case JSON_NULL: return json_buf_append(out, "null", 4);
    case JSON_FALSE: return json_buf_append(out, "false", 5);
    case JSON_TRUE: return json_buf_append(out, "true", 4);
    case JSON_NUMBER: return json_buf_append(out, value->as.text.ptr, value->as.text.len);
    case JSON_STRING: return write_string(out, value->as.text);
    case JSON_ARRAY:
        if (!json_buf_push(out, '[')) {
            return false;
        }
        for (size_t i = 0; i < value->as.array.len; i++) {
            if ((i > 0 && !json_buf_push(out, ',')) || !json_write(out, value->as.array.items[i])) {
                return false;
            }
        }
        return json_buf_push(out, ']');
    case JSON_OBJECT:
        if (!json_buf_push(out, '{')) {
            return false;
        }
        for (size_t i = 0; i < value->as.object.len; i++) {
            const json_member_t *member = &value->as.object.members[i];
            if ((i > 0 && !json_buf_push(out, ',')) || !write_string(out, member->key) || !json_buf_push(out, ':') ||
                !json_write(out, member->value)) {
                return false;
            }
        }
        return json_buf_push(out, '}');
    }
    return false;
}
