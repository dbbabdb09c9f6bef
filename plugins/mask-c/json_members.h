/*
 * For the parser only: the growable lists it collects array items and
 * object members in while a container is open, and the duplicate-key rule
 * for members (first position, last value) with a hash index for large
 * objects, so that parsing stays linear in the number of members.
 */
#ifndef MASK_JSON_MEMBERS_H
#define MASK_JSON_MEMBERS_H

#include "json.h"

/* Items or members collected while their container is open; copied into
 * the arena once its length is known. */
typedef struct vec {
    void *ptr;
    size_t len;
    size_t cap;
} vec_t;

/* Appends room for one item of `item_size` bytes; NULL when out of
 * memory. */
void *vec_push(vec_t *vec, size_t item_size);

/* Members of an open object, with a hash index once there are enough of
 * them that a linear search for duplicates would cost more than it saves. */
#define MEMBERS_INDEXED_FROM 16

typedef struct members {
    vec_t list; /* json_member_t */
    size_t *slots; /* member index + 1, 0 for empty; a power of two long */
    size_t slot_count;
} members_t;

/* Adds a member, or replaces the value of an earlier one with the same key
 * (which keeps its position) and counts it in *duplicates. False when out
 * of memory. */
bool members_put(members_t *members, json_text_t key, json_value_t *value, size_t *duplicates);

/* Frees the list and the index (not the keys and values: the arena owns
 * them). */
void members_free(members_t *members);

#endif
