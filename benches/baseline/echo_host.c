/* Baseline for benches/host.rs and benches/browser.rs: the least a native messaging host can do
 * in C (read a frame, write it back), compiled with `cc -O2` in the same bench run. Issue 14's
 * cold-start target is stated against this host. Not part of passbridge. */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

static int read_all(int fd, void *buf, size_t n) {
    char *p = buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int main(void) {
    uint32_t len;
    while (read_all(0, &len, 4) == 0) {
        char *frame = malloc(4 + (size_t)len);
        if (frame == NULL) return 1;
        *(uint32_t *)frame = len;
        if (read_all(0, frame + 4, len) != 0 || write_all(1, frame, 4 + (size_t)len) != 0) {
            free(frame);
            return 0;
        }
        free(frame);
    }
    return 0;
}
