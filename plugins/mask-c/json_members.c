/* Growable lists and object members for the parser; see json_members.h. */
#include "json_members.h"

#include <stdlib.h>
#include <string.h>

void *vec_push(vec_t *vec, size_t item_size) {
    if (vec->len == vec->cap) {
        size_t cap = vec->cap == 0 ? 8 : vec->cap * 2;
        if (cap > SIZE_MAX / item_size) {
            return NULL;
        }
        void *grown = realloc(vec->ptr, cap * item_size);
        if (grown == NULL) {
            return NULL;
        }
        vec->ptr = grown;
        vec->cap = cap;
    }
    return (char *)vec->ptr + item_size * vec->len++;
}

static uint32_t hash_key(json_text_t key) {
    uint32_t hash = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < key.len; i++) {
        hash = (hash ^ (uint8_t)key.ptr[i]) * 16777619u;
    }
    return hash;
}

/* The slot for `key`: the one holding it, or the empty one it would go in. */
static size_t *find_slot(members_t *members, json_text_t key) {
    const json_member_t *list = members->list.ptr;
    size_t mask = members->slot_count - 1;
    for (size_t i = hash_key(key) & mask;; i = (i + 1) & mask) {
        size_t *slot = &members->slots[i];
        if (*slot == 0 || json_text_eq(list[*slot - 1].key, key)) {
            return slot;
        }
    }
}

static bool rebuild_index(members_t *members, size_t slot_count) {
    size_t *slots = calloc(slot_count, sizeof *slots);
    if (slots == NULL) {
        return false;
    }
    free(members->slots);
    members->slots = slots;
    members->slot_count = slot_count;
    const json_member_t *list = members->list.ptr;
    for (size_t i = 0; i < members->list.len; i++) {
        *find_slot(members, list[i].key) = i + 1;
    }
    return true;
}

/* Adds a member, or replaces the value of an earlier one with the same key
 * (which keeps its position). False when out of memory. */
bool members_put(members_t *members, json_text_t key, json_value_t *value, size_t *duplicates) {
    json_member_t *list = members->list.ptr;
    if (members->slots == NULL) {
        for (size_t i = 0; i < members->list.len; i++) {
            if (json_text_eq(list[i].key, key)) {
                list[i].value = value;
                (*duplicates)++;
                return true;
            }
        }
    } else {
        size_t *slot = find_slot(members, key);
        if (*slot != 0) {
            list[*slot - 1].value = value;
            (*duplicates)++;
            return true;
        }
    }
    json_member_t *member = vec_push(&members->list, sizeof *member);
    if (member == NULL) {
        return false;
    }
    member->key = key;
    member->value = value;
    size_t len = members->list.len;
    if (members->slots != NULL && len * 2 <= members->slot_count) {
        *find_slot(members, key) = len;
        return true;
    }
    if (len >= MEMBERS_INDEXED_FROM) {
        /* Keep the load factor at most one half. */
        return rebuild_index(members, members->slot_count == 0 ? 64 : members->slot_count * 2);
    }
    return true;
}


void members_free(members_t *members) {
    free(members->list.ptr);
    free(members->slots);
    members->list.ptr = NULL;
    members->slots = NULL;
}
