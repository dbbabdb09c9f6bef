/*
 * The strict JSON parser; see json.h for the rules. Recursive descent with
 * an explicit depth limit, so the Wasm stack stays bounded whatever the
 * input; the input is checked to be UTF-8 once, up front, so strings are
 * then copied byte for byte.
 */
#include "json.h"

#include <stdlib.h>
#include <string.h>

#include "json_members.h"
#include "utf8.h"

/* ---- parser -------------------------------------------------------------- */

typedef struct parser {
    json_doc_t *doc;
    const uint8_t *start;
    const uint8_t *p;
    const uint8_t *end;
    json_status_t status;
    json_error_t error;
    /* Decoded bytes of the string being parsed, reused across strings. */
    json_buf_t scratch;
} parser_t;

static void *fail(parser_t *ps, const char *reason) {
    if (ps->status == JSON_OK) {
        ps->status = JSON_INVALID;
        ps->error.offset = (size_t)(ps->p - ps->start);
        ps->error.reason = reason;
    }
    return NULL;
}

static void *no_memory(parser_t *ps) {
    if (ps->status == JSON_OK) {
        ps->status = JSON_NO_MEMORY;
        ps->error.offset = (size_t)(ps->p - ps->start);
        ps->error.reason = "out of memory";
    }
    return NULL;
}

static void skip_whitespace(parser_t *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) {
        ps->p++;
    }
}

static bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

static json_value_t *new_node(parser_t *ps, json_kind_t kind) {
    json_value_t *node = json_doc_alloc(ps->doc, sizeof *node);
    if (node == NULL) {
        return no_memory(ps);
    }
    memset(node, 0, sizeof *node);
    node->kind = kind;
    return node;
}

static json_value_t *parse_value(parser_t *ps, int depth);

static bool push_utf8(json_buf_t *buf, uint32_t point) {
    char encoded[4];
    return json_buf_append(buf, encoded, utf8_encode(point, encoded));
}

static json_value_t *parse_literal(parser_t *ps, const char *word, json_kind_t kind) {
    size_t len = strlen(word);
    if ((size_t)(ps->end - ps->p) < len || memcmp(ps->p, word, len) != 0) {
        return fail(ps, "expected a value");
    }
    ps->p += len;
    return new_node(ps, kind);
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? ; the exponent is written
 * back as `e` with an explicit sign. */
static json_value_t *parse_number(parser_t *ps) {
    const uint8_t *first = ps->p;
    if (ps->p < ps->end && *ps->p == '-') {
        ps->p++;
    }
    if (ps->p < ps->end && *ps->p == '0') {
        ps->p++;
        if (ps->p < ps->end && is_digit(*ps->p)) {
            return fail(ps, "invalid number: leading zero");
        }
    } else if (ps->p < ps->end && is_digit(*ps->p)) {
        while (ps->p < ps->end && is_digit(*ps->p)) {
            ps->p++;
        }
    } else {
        return fail(ps, "invalid number");
    }
    if (ps->p < ps->end && *ps->p == '.') {
        ps->p++;
        if (ps->p >= ps->end || !is_digit(*ps->p)) {
            return fail(ps, "invalid number: no digit after '.'");
        }
        while (ps->p < ps->end && is_digit(*ps->p)) {
            ps->p++;
        }
    }
    const uint8_t *mantissa_end = ps->p;
    char sign = 0;
    const uint8_t *exponent_digits = ps->p;
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        ps->p++;
        sign = '+';
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-')) {
            sign = (char)*ps->p;
            ps->p++;
        }
        exponent_digits = ps->p;
        if (ps->p >= ps->end || !is_digit(*ps->p)) {
            return fail(ps, "invalid number: no digit in exponent");
        }
        while (ps->p < ps->end && is_digit(*ps->p)) {
            ps->p++;
        }
    }
    json_value_t *node = new_node(ps, JSON_NUMBER);
    if (node == NULL) {
        return NULL;
    }
    size_t mantissa_len = (size_t)(mantissa_end - first);
    size_t digits_len = (size_t)(ps->p - exponent_digits);
    size_t len = mantissa_len + (sign ? 2 + digits_len : 0);
    char *text = json_doc_alloc(ps->doc, len);
    if (text == NULL) {
        return no_memory(ps);
    }
    memcpy(text, first, mantissa_len);
    if (sign) {
        text[mantissa_len] = 'e';
        text[mantissa_len + 1] = sign;
        memcpy(text + mantissa_len + 2, exponent_digits, digits_len);
    }
    node->as.text.ptr = text;
    node->as.text.len = len;
    return node;
}

/* Four hex digits after `\u`; -1 when they are not there. */
static int32_t parse_hex4(parser_t *ps) {
    if (ps->end - ps->p < 4) {
        return -1;
    }
    int32_t value = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = ps->p[i];
        int digit;
        if (c >= '0' && c <= '9') {
            digit = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            digit = c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            digit = c - 'A' + 10;
        } else {
            return -1;
        }
        value = value * 16 + digit;
    }
    ps->p += 4;
    return value;
}

/* After `\u`: one code point, from one escape or a surrogate pair. */
static bool parse_unicode_escape(parser_t *ps) {
    int32_t unit = parse_hex4(ps);
    if (unit < 0) {
        fail(ps, "invalid \\u escape");
        return false;
    }
    if (unit >= 0xDC00 && unit <= 0xDFFF) {
        fail(ps, "lone surrogate in \\u escape");
        return false;
    }
    uint32_t point = (uint32_t)unit;
    if (unit >= 0xD800 && unit <= 0xDBFF) {
        if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u') {
            fail(ps, "lone surrogate in \\u escape");
            return false;
        }
        ps->p += 2;
        int32_t low = parse_hex4(ps);
        if (low < 0) {
            fail(ps, "invalid \\u escape");
            return false;
        }
        if (low < 0xDC00 || low > 0xDFFF) {
            fail(ps, "lone surrogate in \\u escape");
            return false;
        }
        point = 0x10000 + (((uint32_t)unit - 0xD800) << 10) + ((uint32_t)low - 0xDC00);
    }
    if (!push_utf8(&ps->scratch, point)) {
        no_memory(ps);
        return false;
    }
    return true;
}

/* At the opening quote: decodes the string into the arena. The input was
 * checked to be UTF-8 already, so bytes >= 0x80 are copied as they are. */
static bool parse_string(parser_t *ps, json_text_t *out) {
    ps->p++; /* the opening quote */
    ps->scratch.len = 0;
    for (;;) {
        const uint8_t *run = ps->p;
        while (ps->p < ps->end && *ps->p != '"' && *ps->p != '\\' && *ps->p >= 0x20) {
            ps->p++;
        }
        if (!json_buf_append(&ps->scratch, run, (size_t)(ps->p - run))) {
            no_memory(ps);
            return false;
        }
        if (ps->p >= ps->end) {
            fail(ps, "unterminated string");
            return false;
        }
        uint8_t c = *ps->p;
        if (c == '"') {
            ps->p++;
            break;
        }
        if (c < 0x20) {
            fail(ps, "control character in string");
            return false;
        }
        /* A backslash. */
        ps->p++;
        if (ps->p >= ps->end) {
            fail(ps, "unterminated string");
            return false;
        }
        char decoded;
        switch (*ps->p++) {
        case '"': decoded = '"'; break;
        case '\\': decoded = '\\'; break;
        case '/': decoded = '/'; break;
        case 'b': decoded = '\b'; break;
        case 'f': decoded = '\f'; break;
        case 'n': decoded = '\n'; break;
        case 'r': decoded = '\r'; break;
        case 't': decoded = '\t'; break;
        case 'u':
            if (!parse_unicode_escape(ps)) {
                return false;
            }
            continue;
        default:
            ps->p--;
            fail(ps, "invalid escape");
            return false;
        }
        if (!json_buf_push(&ps->scratch, decoded)) {
            no_memory(ps);
            return false;
        }
    }
    char *copy = json_doc_copy(ps->doc, ps->scratch.ptr, ps->scratch.len);
    if (copy == NULL) {
        no_memory(ps);
        return false;
    }
    out->ptr = copy;
    out->len = ps->scratch.len;
    return true;
}

static json_value_t *parse_array(parser_t *ps, int depth) {
    ps->p++; /* '[' */
    vec_t items = {0};
    json_value_t *node = NULL;
    skip_whitespace(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
    } else {
        for (;;) {
            json_value_t *item = parse_value(ps, depth);
            if (item == NULL) {
                goto done;
            }
            json_value_t **slot = vec_push(&items, sizeof item);
            if (slot == NULL) {
                no_memory(ps);
                goto done;
            }
            *slot = item;
            skip_whitespace(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                continue;
            }
            if (ps->p < ps->end && *ps->p == ']') {
                ps->p++;
                break;
            }
            fail(ps, "expected ',' or ']'");
            goto done;
        }
    }
    node = new_node(ps, JSON_ARRAY);
    if (node != NULL) {
        node->as.array.items = (json_value_t **)json_doc_copy(ps->doc, items.ptr, items.len * sizeof(json_value_t *));
        node->as.array.len = items.len;
        if (node->as.array.items == NULL) {
            node = no_memory(ps);
        }
    }
done:
    free(items.ptr);
    return node;
}

static json_value_t *parse_object(parser_t *ps, int depth) {
    ps->p++; /* '{' */
    members_t members = {0};
    json_value_t *node = NULL;
    skip_whitespace(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
    } else {
        for (;;) {
            skip_whitespace(ps);
            if (ps->p >= ps->end || *ps->p != '"') {
                fail(ps, "expected a string key");
                goto done;
            }
            json_text_t key;
            if (!parse_string(ps, &key)) {
                goto done;
            }
            skip_whitespace(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                fail(ps, "expected ':'");
                goto done;
            }
            ps->p++;
            json_value_t *value = parse_value(ps, depth);
            if (value == NULL) {
                goto done;
            }
            if (!members_put(&members, key, value, &ps->doc->duplicate_keys)) {
                no_memory(ps);
                goto done;
            }
            skip_whitespace(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                continue;
            }
            if (ps->p < ps->end && *ps->p == '}') {
                ps->p++;
                break;
            }
            fail(ps, "expected ',' or '}'");
            goto done;
        }
    }
    node = new_node(ps, JSON_OBJECT);
    if (node != NULL) {
        node->as.object.members =
            (json_member_t *)json_doc_copy(ps->doc, members.list.ptr, members.list.len * sizeof(json_member_t));
        node->as.object.len = members.list.len;
        if (node->as.object.members == NULL) {
            node = no_memory(ps);
        }
    }
done:
    members_free(&members);
    return node;
}

/* `depth` counts the arrays/objects around this value. */
static json_value_t *parse_value(parser_t *ps, int depth) {
    skip_whitespace(ps);
    if (ps->p >= ps->end) {
        return fail(ps, "unexpected end of input");
    }
    switch (*ps->p) {
    case '{':
    case '[':
        if (depth + 1 >= JSON_DEPTH_MAX) {
            return fail(ps, "arrays/objects nested too deep (128 or more)");
        }
        return *ps->p == '{' ? parse_object(ps, depth + 1) : parse_array(ps, depth + 1);
    case '"': {
        json_value_t *node = new_node(ps, JSON_STRING);
        if (node == NULL || !parse_string(ps, &node->as.text)) {
            return NULL;
        }
        return node;
    }
    case 't': return parse_literal(ps, "true", JSON_TRUE);
    case 'f': return parse_literal(ps, "false", JSON_FALSE);
    case 'n': return parse_literal(ps, "null", JSON_NULL);
    default:
        if (*ps->p == '-' || is_digit(*ps->p)) {
            return parse_number(ps);
        }
        return fail(ps, "expected a value");
    }
}

json_status_t json_parse(json_doc_t *doc, const uint8_t *input, size_t len, json_value_t **root,
                         json_error_t *error) {
    parser_t ps = {.doc = doc, .start = input, .p = input, .end = input + len, .status = JSON_OK};
    *root = NULL;
    if (!utf8_valid(input, len)) {
        fail(&ps, "not valid UTF-8");
    } else {
        json_value_t *value = parse_value(&ps, 0);
        if (value != NULL) {
            skip_whitespace(&ps);
            if (ps.p != ps.end) {
                fail(&ps, "trailing characters after the value");
            } else {
                *root = value;
            }
        }
    }
    free(ps.scratch.ptr);
    if (error != NULL) {
        *error = ps.error;
    }
    return ps.status;
}

