// How the relay should fill a recipient's Noise output at S = 1000: copy every delivery (its shared part and its
// wrap) into the recipient's buffer and encrypt the buffer in place with one AES-256-GCM pass at the flush (what
// NoiseOutputBuffer does), or encrypt each delivery's pieces straight from where they are into the buffer (one
// pass over the destination instead of two). Shapes as in `fanout --receivers 1000`: 1,000 recipients with a
// context each, 36 envelopes per read batch, 340-byte shared parts and 110-byte wraps (16 MB of output a batch).
//   gcc -O2 -o copy_then_encrypt docs/experiments/copy_then_encrypt.c -lcrypto
//   taskset -c 0 ./copy_then_encrypt 0 40   # copy, then encrypt in place (the relay's way)
//   taskset -c 0 ./copy_then_encrypt 1 40   # encrypt both pieces straight into the buffer
//   taskset -c 0 ./copy_then_encrypt 2 40   # gather each delivery in a 450-byte scratch, encrypt that into the buffer
//   taskset -c 0 ./copy_then_encrypt 3 40   # as 0, but recipient after recipient: fill one buffer, encrypt it at once
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { RECIPIENTS = 1000, ENVELOPES = 36, SHARED = 340, WRAP = 110, DELIVERY = SHARED + WRAP };

/// Encrypts a recipient's buffer in place as one AES-256-GCM message, as NoiseOutputBuffer does at the flush.
static void seal_in_place(EVP_CIPHER_CTX *context, unsigned char *output, size_t used, const unsigned char *nonce, unsigned char *tag) {
    int length;
    EVP_EncryptInit_ex(context, NULL, NULL, NULL, nonce);
    EVP_EncryptUpdate(context, output, &length, output, (int)used);
    EVP_EncryptFinal_ex(context, output + used, &length);
    EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, 16, tag);
}

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s MODE(0|1|2|3) ROUNDS\n", argv[0]); return 2; }
    int mode = atoi(argv[1]), rounds = atoi(argv[2]), length;
    static EVP_CIPHER_CTX *context[RECIPIENTS];
    static unsigned char *output[RECIPIENTS];
    static size_t used[RECIPIENTS];
    unsigned char key[32], nonce[12] = {0}, tag[16], scratch[DELIVERY];
    unsigned char *shared[ENVELOPES], *wraps[ENVELOPES];
    for (int r = 0; r < RECIPIENTS; r++) {
        for (int i = 0; i < 32; i++) key[i] = (unsigned char)(r + i);
        context[r] = EVP_CIPHER_CTX_new();
        EVP_EncryptInit_ex(context[r], EVP_aes_256_gcm(), NULL, key, NULL);
        output[r] = malloc(ENVELOPES * DELIVERY + 16);
    }
    for (int e = 0; e < ENVELOPES; e++) {
        shared[e] = malloc(SHARED); memset(shared[e], e, SHARED);
        wraps[e] = malloc((size_t)WRAP * RECIPIENTS); memset(wraps[e], e + 1, (size_t)WRAP * RECIPIENTS);
    }
    double start = seconds();
    for (int round = 0; round < rounds; round++) {
        nonce[0] = (unsigned char)round;
        memset(used, 0, sizeof used);
        if (mode == 1 || mode == 2)
            for (int r = 0; r < RECIPIENTS; r++) EVP_EncryptInit_ex(context[r], NULL, NULL, NULL, nonce);
        if (mode == 3) {
            for (int r = 0; r < RECIPIENTS; r++) {
                for (int e = 0; e < ENVELOPES; e++) {
                    unsigned char *to = output[r] + used[r], *wrap = wraps[e] + (size_t)r * WRAP;
                    memcpy(to, shared[e], SHARED);
                    memcpy(to + SHARED, wrap, WRAP);
                    used[r] += DELIVERY;
                }
                seal_in_place(context[r], output[r], used[r], nonce, tag);
            }
            continue;
        }
        for (int e = 0; e < ENVELOPES; e++) {
            if (mode == 2) memcpy(scratch, shared[e], SHARED);
            for (int r = 0; r < RECIPIENTS; r++) {
                unsigned char *to = output[r] + used[r], *wrap = wraps[e] + (size_t)r * WRAP;
                if (mode == 0) {
                    memcpy(to, shared[e], SHARED);
                    memcpy(to + SHARED, wrap, WRAP);
                } else if (mode == 1) {
                    EVP_EncryptUpdate(context[r], to, &length, shared[e], SHARED);
                    EVP_EncryptUpdate(context[r], to + SHARED, &length, wrap, WRAP);
                } else {
                    memcpy(scratch + SHARED, wrap, WRAP);
                    EVP_EncryptUpdate(context[r], to, &length, scratch, DELIVERY);
                }
                used[r] += DELIVERY;
            }
        }
        for (int r = 0; r < RECIPIENTS; r++) {
            if (mode == 0) {
                seal_in_place(context[r], output[r], used[r], nonce, tag);
                continue;
            }
            EVP_EncryptFinal_ex(context[r], output[r] + used[r], &length);
            EVP_CIPHER_CTX_ctrl(context[r], EVP_CTRL_GCM_GET_TAG, 16, tag);
        }
    }
    double elapsed = seconds() - start;
    printf("mode=%d ns_per_delivery=%.1f\n", mode, elapsed * 1e9 / ((double)rounds * ENVELOPES * RECIPIENTS));
    return 0;
}
