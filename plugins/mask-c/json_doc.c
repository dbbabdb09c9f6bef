/*
 * The arena a JSON tree lives in, and small operations on a tree: finding
 * a member, making a string node. Nodes are never freed one by one: a
 * record's tree is dropped whole once its value is written.
 */
#include "json.h"

#include <stdlib.h>
#include <string.h>

/* Most trees fit one chunk; larger single allocations get their own. */
#define CHUNK_BYTES 16384

struct json_chunk {
    json_chunk_t *next;
    size_t used;
    size_t cap;
    uint64_t data[]; /* 8-byte aligned storage, `cap` bytes */
};

void *json_doc_alloc(json_doc_t *doc, size_t size) {
    if (size > SIZE_MAX - 8 - sizeof(json_chunk_t)) {
        return NULL;
    }
    size = (size + 7) & ~(size_t)7;
    json_chunk_t *chunk = doc->chunks;
    if (chunk != NULL && chunk->cap - chunk->used >= size) {
        void *ptr = (char *)chunk->data + chunk->used;
        chunk->used += size;
        return ptr;
    }
    size_t cap = size > CHUNK_BYTES ? size : CHUNK_BYTES;
    json_chunk_t *fresh = malloc(sizeof *fresh + cap);
    if (fresh == NULL) {
        return NULL;
    }
    fresh->cap = cap;
    fresh->used = size;
    if (chunk != NULL && size > CHUNK_BYTES) {
        /* A one-off big block: keep allocating from the current chunk. */
        fresh->next = chunk->next;
        chunk->next = fresh;
    } else {
        fresh->next = chunk;
        doc->chunks = fresh;
    }
    return fresh->data;
}

char *json_doc_copy(json_doc_t *doc, const void *bytes, size_t len) {
    char *copy = json_doc_alloc(doc, len);
    if (copy != NULL && len > 0) {
        memcpy(copy, bytes, len);
    }
    return copy;
}

void json_doc_free(json_doc_t *doc) {
    json_chunk_t *chunk = doc->chunks;
    while (chunk != NULL) {
        json_chunk_t *next = chunk->next;
        free(chunk);
        chunk = next;
    }
    doc->chunks = NULL;
    doc->duplicate_keys = 0;
}

bool json_text_eq(json_text_t a, json_text_t b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

json_member_t *json_object_member(json_value_t *object, const char *key, size_t key_len) {
    if (object == NULL || object->kind != JSON_OBJECT) {
        return NULL;
    }
    json_text_t wanted = {key, key_len};
    for (size_t i = 0; i < object->as.object.len; i++) {
        if (json_text_eq(object->as.object.members[i].key, wanted)) {
            return &object->as.object.members[i];
        }
    }
    return NULL;
}

json_value_t *json_new_string(json_doc_t *doc, const char *bytes, size_t len) {
    json_value_t *node = json_doc_alloc(doc, sizeof *node);
    char *copy = json_doc_copy(doc, bytes, len);
    if (node == NULL || copy == NULL) {
        return NULL;
    }
    memset(node, 0, sizeof *node);
    node->kind = JSON_STRING;
    node->as.text.ptr = copy;
    node->as.text.len = len;
    return node;
}

