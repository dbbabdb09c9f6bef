/*
 * Native unit tests for the SHA-256, JSON and masking code of mask-c, run by
 * test.sh with the host's C compiler. Each check prints its name when it
 * fails; the last line is "N passed, N failed".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../json.h"
#include "../masking.h"
#include "../sha256.h"

static int passed;
static int failed;

static void check(int ok, const char *what, const char *detail) {
    if (ok) {
        passed++;
    } else {
        failed++;
        fprintf(stderr, "FAIL %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    }
}

/* ---- SHA-256 (FIPS 180-4 example vectors) ---------------------------------- */

static void sha256_case(const char *input, const char *expected) {
    char hex[SHA256_HEX_BYTES];
    sha256_hex(input, strlen(input), hex);
    check(strcmp(hex, expected) == 0, "sha256", input);
}

static void test_sha256(void) {
    sha256_case("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha256_case("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha256_case("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    sha256_case("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrst"
                "nopqrstu",
                "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    /* 55, 56 and 64 bytes: the padding boundaries. */
    sha256_case("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
    sha256_case("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
    sha256_case("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");

    /* One million 'a', fed in uneven pieces to exercise the buffering. */
    sha256_t ctx;
    uint8_t digest[SHA256_DIGEST_BYTES];
    static char million[1000000];
    memset(million, 'a', sizeof million);
    sha256_init(&ctx);
    size_t fed = 0;
    for (size_t piece = 1; fed < sizeof million; piece = piece * 7 % 131 + 1) {
        size_t take = sizeof million - fed < piece ? sizeof million - fed : piece;
        sha256_update(&ctx, million + fed, take);
        fed += take;
    }
    sha256_final(&ctx, digest);
    static const uint8_t expected[SHA256_DIGEST_BYTES] = {
        0xcd, 0xc7, 0x6e, 0x5c, 0x99, 0x14, 0xfb, 0x92, 0x81, 0xa1, 0xc7, 0xe2, 0x84, 0xd7, 0x3e, 0x67,
        0xf1, 0x80, 0x9a, 0x48, 0xa4, 0x97, 0x20, 0x0e, 0x04, 0x6d, 0x39, 0xcc, 0xc7, 0x11, 0x2c, 0xd0,
    };
    check(memcmp(digest, expected, sizeof expected) == 0, "sha256", "one million 'a' in pieces");
}

/* ---- JSON ---------------------------------------------------------------- */

/* Parses `input` and writes it compactly: the result, or NULL when invalid. */
static char *roundtrip(const char *input, size_t len) {
    json_doc_t doc = {0};
    json_value_t *root;
    char *result = NULL;
    if (json_parse(&doc, (const uint8_t *)input, len, &root, NULL) == JSON_OK) {
        json_buf_t out = {0};
        if (json_write(&out, root) && (out.ptr = realloc(out.ptr, out.len + 1)) != NULL) {
            out.ptr[out.len] = '\0';
            result = out.ptr;
        }
    }
    json_doc_free(&doc);
    return result;
}

static void json_ok(const char *input, const char *expected) {
    char *out = roundtrip(input, strlen(input));
    check(out != NULL && strcmp(out, expected) == 0, "json writes", input);
    if (out != NULL && strcmp(out, expected) != 0) {
        fprintf(stderr, "  got %s\n  want %s\n", out, expected);
    }
    free(out);
}

static void json_invalid_bytes(const char *input, size_t len, const char *what) {
    char *out = roundtrip(input, len);
    check(out == NULL, "json rejects", what);
    free(out);
}

static void json_invalid(const char *input) { json_invalid_bytes(input, strlen(input), input); }

/* `depth` nested arrays around an empty object-free core. */
static char *nested(int depth) {
    char *text = malloc((size_t)depth * 2 + 1);
    memset(text, '[', (size_t)depth);
    memset(text + depth, ']', (size_t)depth);
    text[depth * 2] = '\0';
    return text;
}

static void test_json(void) {
    /* Compact output, order kept, duplicates: first position, last value. */
    json_ok(" { \"b\" : 1 ,\t\"a\" :\r\n[ true , false , null ] } ", "{\"b\":1,\"a\":[true,false,null]}");
    json_ok("{\"k\":1,\"x\":2,\"k\":{\"d\":3}}", "{\"k\":{\"d\":3},\"x\":2}");
    json_ok("{}", "{}");
    json_ok("[]", "[]");
    json_ok("\"s\"", "\"s\"");
    /* Duplicates past the size where objects get a hash index. */
    json_ok("{\"a0\":0,\"a1\":1,\"a2\":2,\"a3\":3,\"a4\":4,\"a5\":5,\"a6\":6,\"a7\":7,\"a8\":8,\"a9\":9,\"b0\":0,\"b1\":1,"
            "\"b2\":2,\"b3\":3,\"b4\":4,\"b5\":5,\"b6\":6,\"b7\":7,\"a3\":\"x\",\"b7\":\"y\",\"c\":0}",
            "{\"a0\":0,\"a1\":1,\"a2\":2,\"a3\":\"x\",\"a4\":4,\"a5\":5,\"a6\":6,\"a7\":7,\"a8\":8,\"a9\":9,\"b0\":0,\"b1\":1,"
            "\"b2\":2,\"b3\":3,\"b4\":4,\"b5\":5,\"b6\":6,\"b7\":\"y\",\"c\":0}");

    /* Numbers keep their text; only the exponent is normalised. */
    json_ok("[1E5,2.50e-3,-0,1.0,1e+400,3E-2,12345678901234567890123,0.000,7e05]",
            "[1e+5,2.50e-3,-0,1.0,1e+400,3e-2,12345678901234567890123,0.000,7e+05]");
    json_invalid("[01]");
    json_invalid("[-]");
    json_invalid("[1.]");
    json_invalid("[.5]");
    json_invalid("[1e]");
    json_invalid("[1e+]");
    json_invalid("[+1]");
    json_invalid("[NaN]");
    json_invalid("[Infinity]");
    json_invalid("[-Infinity]");

    /* Strings: escapes decoded, then written back the one canonical way. */
    json_ok("\"tab\\there \\\"q\\\" back\\\\slash \\u00e9\\u0001\\u001f\\u007f\\u2028 / \\/ \\b\\f\\n\\r\"",
            "\"tab\\there \\\"q\\\" back\\\\slash \xc3\xa9\\u0001\\u001f\x7f\xe2\x80\xa8 / / \\b\\f\\n\\r\"");
    json_ok("\"\\ud83d\\ude00 \\u0000\"", "\"\xf0\x9f\x98\x80 \\u0000\"");
    json_ok("{\"\\u0065mail\":1}", "{\"email\":1}");
    json_invalid("\"\\ud800\"");
    json_invalid("\"\\udc00\"");
    json_invalid("\"\\ud800\\u0041\"");
    json_invalid("\"\\ud800\\ud800\"");
    json_invalid("\"\\x\"");
    json_invalid("\"\\u12\"");
    json_invalid("\"unterminated");
    json_invalid("\"raw\ttab\"");
    json_invalid("\"raw\nnewline\"");

    /* Syntax. */
    json_invalid("");
    json_invalid("   ");
    json_invalid("{\"a\":1,}");
    json_invalid("[1,]");
    json_invalid("{\"a\" 1}");
    json_invalid("{a:1}");
    json_invalid("{\"a\":1} x");
    json_invalid("[1 2]");
    json_invalid("tru");
    json_invalid("nul");
    json_invalid("{\"a\":1}\f");
    json_invalid("\xef\xbb\xbf{}"); /* a byte-order mark is not whitespace */

    /* UTF-8: well-formed only. */
    json_ok("\"\xc3\xa9\xe4\xbe\x8b\xf0\x9f\x91\xa9\"", "\"\xc3\xa9\xe4\xbe\x8b\xf0\x9f\x91\xa9\"");
    json_invalid_bytes("\"\xff\"", 3, "byte 0xff");
    json_invalid_bytes("\"\xc0\xaf\"", 4, "overlong '/'");
    json_invalid_bytes("\"\xed\xa0\x80\"", 5, "encoded surrogate");
    json_invalid_bytes("\"\xf4\x90\x80\x80\"", 6, "above U+10FFFF");
    json_invalid_bytes("\"\xe4\xbe\"", 4, "truncated sequence");
    json_invalid_bytes("{\"a\":1}\x00", 8, "NUL after the value");

    /* Depth: 127 nested arrays parse, 128 do not. */
    char *deep = nested(127);
    json_ok(deep, deep);
    free(deep);
    deep = nested(128);
    json_invalid(deep);
    free(deep);
}

/* ---- masking ------------------------------------------------------------- */

static void mask_case(const char *config, const char *value, const char *expected) {
    mask_t mask;
    char *message;
    if (mask_from_config(&mask, config, strlen(config), &message) != MASK_OK) {
        check(0, "mask config", message);
        free(message);
        return;
    }
    uint8_t *out = NULL;
    size_t out_len = 0;
    mask_outcome_t outcome = mask_apply(&mask, (const uint8_t *)value, strlen(value), &out, &out_len);
    if (expected == NULL) {
        check(outcome == MASK_UNCHANGED, "mask leaves unchanged", value);
    } else {
        int ok = outcome == MASK_CHANGED && out_len == strlen(expected) && memcmp(out, expected, out_len) == 0;
        check(ok, "mask", value);
        if (!ok && outcome == MASK_CHANGED) {
            fprintf(stderr, "  got %.*s\n  want %s\n", (int)out_len, (const char *)out, expected);
        }
    }
    free(out);
    mask_free(&mask);
}

static void bad_config(const char *config) {
    mask_t mask;
    char *message;
    mask_status_t status = mask_from_config(&mask, config, strlen(config), &message);
    check(status == MASK_INVALID_CONFIG && message != NULL, "config rejected", config);
    free(message);
}

static void test_masking(void) {
    const char *redact = "{\"fields\": [\"email\", \"card.number\"], \"mode\": \"redact\"}";
    mask_case(redact, "{\"id\": 7, \"email\": \"a@b.c\", \"card\": {\"number\": \"4111\", \"exp\": \"12/30\"}, \"z\": true}",
              "{\"id\":7,\"email\":\"***\",\"card\":{\"number\":\"***\",\"exp\":\"12/30\"},\"z\":true}");
    mask_case(redact, "{\"email\": null}", "{\"email\":\"***\"}");
    mask_case(redact, "{\"id\": 1}", NULL);
    mask_case(redact, "{\"card\": \"4111\"}", NULL);
    mask_case(redact, "{\"card\": [{\"number\": 1}]}", NULL);
    mask_case(redact, "[{\"email\": 1}]", NULL);
    mask_case(redact, "\"email\"", NULL);
    mask_case(redact, "not json", NULL);
    mask_case(redact, "", NULL);

    /* The vectors of the reference's unit tests (plugins/mask/src/lib.rs). */
    mask_case("{\"fields\": [\"email\"], \"mode\": \"hash\"}", "{\"email\": \"abc\"}",
              "{\"email\":\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"}");
    mask_case("{\"fields\": [\"card\"], \"mode\": \"hash\"}", "{\"card\": { \"number\" : 4111 }}",
              "{\"card\":\"630e058e61891df09111b0f4623b17d218d24aac6ccd16006e310cfd8f2d0a92\"}");
    mask_case("{\"fields\": [\"card\"], \"mode\": \"hash\"}", "{\"card\": 12}",
              "{\"card\":\"6b51d431df5d7f141cbececcf79edf3dd861c3b4069f0b11661a3eefacbba918\"}");
    /* A string hashes its decoded bytes: "\u0061bc" is "abc". */
    mask_case("{\"fields\": [\"email\"], \"mode\": \"hash\"}", "{\"email\": \"\\u0061bc\"}",
              "{\"email\":\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"}");
    /* Paths apply in order: a named field twice is hashed twice. */
    mask_case("{\"fields\": [\"e\", \"e\"], \"mode\": \"hash\"}", "{\"e\": \"\"}",
              "{\"e\":\"cd372fb85148700fa88095e3492d3f9f5beb43e555e5ff26d95f5a6adc36f8e6\"}");

    bad_config("{\"fields\": [], \"mode\": \"redact\"}");
    bad_config("{\"fields\": [\"a..b\"], \"mode\": \"redact\"}");
    bad_config("{\"fields\": [\".a\"], \"mode\": \"redact\"}");
    bad_config("{\"fields\": [\"a.\"], \"mode\": \"redact\"}");
    bad_config("{\"fields\": [\"\"], \"mode\": \"redact\"}");
    bad_config("{\"fields\": [\"a\"], \"mode\": \"scramble\"}");
    bad_config("{\"fields\": [\"a\"], \"mode\": \"hash\", \"salt\": \"x\"}");
    bad_config("{\"fields\": [\"a\"]}");
    bad_config("{\"mode\": \"hash\"}");
    bad_config("{\"fields\": [1], \"mode\": \"hash\"}");
    bad_config("{\"fields\": \"a\", \"mode\": \"hash\"}");
    bad_config("{\"fields\": [\"a\"], \"mode\": \"hash\", \"mode\": \"redact\"}");
    bad_config("[]");
    bad_config("not json");
}

int main(void) {
    test_sha256();
    test_json();
    test_masking();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
