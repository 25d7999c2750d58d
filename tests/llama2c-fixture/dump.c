// Prints what llama2.c's own run.c computes on a checkpoint, for the fixture
// tests/OnnxSteer.Tests/Reference/Fixtures/stories260K-llama2c.json (generate.mjs turns this output into it).
// run.c itself is not in this repository: generate.mjs compiles this file against a copy of it, and only run.c's
// transformer(), bpe_encode() and argmax() compute anything below; this file only loads the files and prints.
//
// usage: dump <checkpoint.bin> <tokenizer.bin> <steps> <logit steps, comma separated> <strings file, NUL separated>
// prints: "logits <step> <v0> ... <vN-1>" for each requested step of greedy decoding from BOS,
//         "greedy <id0> <id1> ..." (the BOS start, then each argmax token; stops after BOS, as run.c does),
//         "encode <index> <ids...>" for each string (run.c's encoder: dummy " " prefix, no BOS).
#define main llama2c_run_main
#include "run.c"
#undef main

static int wanted(const char *list, int step) {
    char buf[256];
    snprintf(buf, sizeof buf, ",%s,", list);
    char key[32];
    snprintf(key, sizeof key, ",%d,", step);
    return strstr(buf, key) != NULL;
}

int main(int argc, char *argv[]) {
    if (argc != 6) { fprintf(stderr, "usage: dump checkpoint tokenizer steps logit_steps strings\n"); return 2; }
    int steps = atoi(argv[3]);

    // The checkpoint: the 7-int header, then the weights, mapped read-only (negative vocab = separate classifier).
    Config config;
    FILE *file = fopen(argv[1], "rb");
    if (!file || fread(&config, sizeof(Config), 1, file) != 1) { fprintf(stderr, "cannot read %s\n", argv[1]); return 1; }
    int shared_weights = config.vocab_size > 0;
    config.vocab_size = abs(config.vocab_size);
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fclose(file);
    int fd = open(argv[1], O_RDONLY);
    float *data = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (data == MAP_FAILED) { fprintf(stderr, "mmap failed\n"); return 1; }
    TransformerWeights weights;
    checkpoint_init_weights(&weights, &config, data + sizeof(Config) / sizeof(float), shared_weights);

    // The tokenizer: max_token_length, then per token a float score, an int length and the bytes.
    char **vocab = malloc(config.vocab_size * sizeof(char *));
    float *scores = malloc(config.vocab_size * sizeof(float));
    unsigned int max_token_length;
    file = fopen(argv[2], "rb");
    if (!file || fread(&max_token_length, sizeof(int), 1, file) != 1) { fprintf(stderr, "cannot read %s\n", argv[2]); return 1; }
    for (int i = 0; i < config.vocab_size; i++) {
        int len;
        if (fread(scores + i, sizeof(float), 1, file) != 1 || fread(&len, sizeof(int), 1, file) != 1) return 1;
        vocab[i] = malloc(len + 1);
        if (fread(vocab[i], len, 1, file) != 1) return 1;
        vocab[i][len] = '\0';
    }
    fclose(file);

    RunState state;
    malloc_run_state(&state, &config);
    int token = 1;
    int *ids = malloc((steps + 1) * sizeof(int));
    int n = 0;
    ids[n++] = token;
    for (int pos = 0; pos < steps && pos < config.seq_len; pos++) {
        transformer(token, pos, &config, &state, &weights);
        if (wanted(argv[4], pos)) {
            printf("logits %d", pos);
            for (int v = 0; v < config.vocab_size; v++) printf(" %.9g", state.logits[v]);
            printf("\n");
        }
        int next = argmax(state.logits, config.vocab_size);
        ids[n++] = next;
        if (next == 1) break;
        token = next;
    }
    printf("greedy");
    for (int i = 0; i < n; i++) printf(" %d", ids[i]);
    printf("\n");

    // The strings, NUL separated.
    file = fopen(argv[5], "rb");
    if (!file) { fprintf(stderr, "cannot read %s\n", argv[5]); return 1; }
    fseek(file, 0, SEEK_END);
    long length = ftell(file);
    fseek(file, 0, SEEK_SET);
    char *text = calloc(length + 1, 1);
    if (length > 0 && fread(text, length, 1, file) != 1) return 1;
    fclose(file);
    int index = 0;
    for (char *s = text; s < text + length; s += strlen(s) + 1, index++) {
        int *tokens = malloc((strlen(s) + 3) * sizeof(int));
        int count = 0;
        bpe_encode(s, vocab, scores, config.vocab_size, max_token_length, tokens, &count);
        printf("encode %d", index);
        for (int i = 0; i < count; i++) printf(" %d", tokens[i]);
        printf("\n");
        free(tokens);
    }
    return 0;
}
