/*
 * `mask` itself: config validation and the masking of one value. The
 * behaviour mirrors plugins/mask/src/lib.rs, the reference, to the byte.
 */
#include "masking.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"

static const char CONFIG_SHAPE[] = "{\"fields\": [\"a.b\", ...], \"mode\": \"redact\" | \"hash\"}";

/* A malloc'd printf-style message; NULL when out of memory. */
static char *format(const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    int len = vsnprintf(NULL, 0, fmt, args);
    va_end(args);
    if (len < 0) {
        return NULL;
    }
    char *text = malloc((size_t)len + 1);
    if (text != NULL) {
        va_start(args, fmt);
        vsnprintf(text, (size_t)len + 1, fmt, args);
        va_end(args);
    }
    return text;
}

static mask_status_t invalid(char **message, char *text) {
    *message = text;
    return MASK_INVALID_CONFIG;
}

static bool text_is(json_text_t text, const char *word) {
    return text.len == strlen(word) && memcmp(text.ptr, word, text.len) == 0;
}

/* Splits `field` at '.' into `path`; false when a segment is empty. */
static mask_status_t split_path(json_text_t field, mask_path_t *path) {
    size_t count = 1;
    for (size_t i = 0; i < field.len; i++) {
        count += field.ptr[i] == '.';
    }
    path->segments = calloc(count, sizeof *path->segments);
    if (path->segments == NULL) {
        return MASK_NO_MEMORY;
    }
    path->len = count;
    size_t start = 0;
    size_t n = 0;
    for (size_t i = 0; i <= field.len; i++) {
        if (i == field.len || field.ptr[i] == '.') {
            if (i == start) {
                return MASK_INVALID_CONFIG;
            }
            path->segments[n++] = (json_text_t){field.ptr + start, i - start};
            start = i + 1;
        }
    }
    return MASK_OK;
}

static mask_status_t read_fields(mask_t *mask, const json_value_t *fields, char **message) {
    if (fields->kind != JSON_ARRAY) {
        return invalid(message, format("mask: config.fields is not a list of strings; write it like %s", CONFIG_SHAPE));
    }
    if (fields->as.array.len == 0) {
        return invalid(message, format("mask: config.fields is empty; name at least one field to mask, e.g. [\"email\"]"));
    }
    mask->paths = calloc(fields->as.array.len, sizeof *mask->paths);
    if (mask->paths == NULL) {
        return MASK_NO_MEMORY;
    }
    for (size_t i = 0; i < fields->as.array.len; i++) {
        const json_value_t *field = fields->as.array.items[i];
        if (field->kind != JSON_STRING) {
            return invalid(message, format("mask: config.fields[%zu] is not a string; write it like %s", i, CONFIG_SHAPE));
        }
        mask_status_t status = split_path(field->as.text, &mask->paths[i]);
        mask->path_count = i + 1;
        if (status == MASK_INVALID_CONFIG) {
            return invalid(message, format("mask: config.fields has \"%.*s\", which has an empty path segment; "
                                           "write dotted paths like \"card.number\"",
                                           (int)field->as.text.len, field->as.text.ptr));
        }
        if (status != MASK_OK) {
            return status;
        }
    }
    return MASK_OK;
}

static mask_status_t read_config(mask_t *mask, const char *config, size_t len, char **message) {
    json_value_t *root;
    json_error_t error;
    json_status_t parsed = json_parse(&mask->config, (const uint8_t *)config, len, &root, &error);
    if (parsed == JSON_NO_MEMORY) {
        return MASK_NO_MEMORY;
    }
    if (parsed != JSON_OK) {
        return invalid(message, format("mask: config is not %s: %s at byte %zu", CONFIG_SHAPE, error.reason, error.offset));
    }
    if (root->kind != JSON_OBJECT) {
        return invalid(message, format("mask: config is not %s: not an object", CONFIG_SHAPE));
    }
    if (mask->config.duplicate_keys > 0) {
        return invalid(message, format("mask: config names a key twice; write it like %s", CONFIG_SHAPE));
    }
    const json_value_t *fields = NULL;
    const json_value_t *mode = NULL;
    for (size_t i = 0; i < root->as.object.len; i++) {
        const json_member_t *member = &root->as.object.members[i];
        if (text_is(member->key, "fields")) {
            fields = member->value;
        } else if (text_is(member->key, "mode")) {
            mode = member->value;
        } else {
            return invalid(message, format("mask: config has the unknown key \"%.*s\"; write it like %s",
                                           (int)member->key.len, member->key.ptr, CONFIG_SHAPE));
        }
    }
    if (fields == NULL || mode == NULL) {
        return invalid(message, format("mask: config has no \"%s\"; write it like %s", fields == NULL ? "fields" : "mode",
                                       CONFIG_SHAPE));
    }
    if (mode->kind == JSON_STRING && text_is(mode->as.text, "redact")) {
        mask->mode = MASK_REDACT;
    } else if (mode->kind == JSON_STRING && text_is(mode->as.text, "hash")) {
        mask->mode = MASK_HASH;
    } else {
        return invalid(message, format("mask: config.mode is not \"redact\" or \"hash\""));
    }
    return read_fields(mask, fields, message);
}

mask_status_t mask_from_config(mask_t *mask, const char *config, size_t len, char **message) {
    memset(mask, 0, sizeof *mask);
    *message = NULL;
    mask_status_t status = read_config(mask, config, len, message);
    if (status != MASK_OK) {
        mask_free(mask);
    }
    return status;
}

void mask_free(mask_t *mask) {
    for (size_t i = 0; i < mask->path_count; i++) {
        free(mask->paths[i].segments);
    }
    free(mask->paths);
    json_doc_free(&mask->config);
    memset(mask, 0, sizeof *mask);
}

/* The member at `path` below `root`, if every segment but the last names an
 * object member (arrays are not entered) and the last names any member. */
static json_member_t *find(json_value_t *root, const mask_path_t *path) {
    json_value_t *current = root;
    for (size_t i = 0; i + 1 < path->len; i++) {
        json_member_t *member = json_object_member(current, path->segments[i].ptr, path->segments[i].len);
        if (member == NULL) {
            return NULL;
        }
        current = member->value;
    }
    const json_text_t *last = &path->segments[path->len - 1];
    return json_object_member(current, last->ptr, last->len);
}

/* What a field's value becomes; NULL when out of memory. */
static json_value_t *masked(const mask_t *mask, json_doc_t *doc, const json_value_t *field) {
    if (mask->mode == MASK_REDACT) {
        return json_new_string(doc, "***", 3);
    }
    char hex[SHA256_HEX_BYTES];
    if (field->kind == JSON_STRING) {
        sha256_hex(field->as.text.ptr, field->as.text.len, hex);
    } else {
        json_buf_t text = {0};
        if (!json_write(&text, field)) {
            free(text.ptr);
            return NULL;
        }
        sha256_hex(text.ptr, text.len, hex);
        free(text.ptr);
    }
    return json_new_string(doc, hex, SHA256_HEX_BYTES - 1);
}

mask_outcome_t mask_apply(const mask_t *mask, const uint8_t *value, size_t len, uint8_t **out, size_t *out_len) {
    json_doc_t doc = {0};
    json_value_t *root;
    mask_outcome_t outcome = MASK_UNCHANGED;
    json_status_t parsed = json_parse(&doc, value, len, &root, NULL);
    if (parsed == JSON_NO_MEMORY) {
        outcome = MASK_OUT_OF_MEMORY;
    } else if (parsed == JSON_OK && root->kind == JSON_OBJECT) {
        /* Paths apply in config order, each to the tree the previous ones
         * left, as the reference does. */
        for (size_t i = 0; i < mask->path_count && outcome != MASK_OUT_OF_MEMORY; i++) {
            json_member_t *member = find(root, &mask->paths[i]);
            if (member == NULL) {
                continue;
            }
            json_value_t *replacement = masked(mask, &doc, member->value);
            if (replacement == NULL) {
                outcome = MASK_OUT_OF_MEMORY;
            } else {
                member->value = replacement;
                outcome = MASK_CHANGED;
            }
        }
        if (outcome == MASK_CHANGED) {
            json_buf_t text = {0};
            if (json_write(&text, root)) {
                *out = (uint8_t *)text.ptr;
                *out_len = text.len;
            } else {
                free(text.ptr);
                outcome = MASK_OUT_OF_MEMORY;
            }
        }
    }
    json_doc_free(&doc);
    return outcome;
}
