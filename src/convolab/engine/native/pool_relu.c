/* Max pooling with non-overlapping windows, then ReLU, on NHWC (channels_last) float32 tensors.
 *
 * Built and loaded by convolab/native/build.py (plain C, no torch headers; ctypes calls it with the
 * tensors' data pointers), used by convolab/native/pool.py. Semantics are PyTorch's max_pool2d (and
 * Keras's MaxPooling2D, which the plan maps to it): windows of kh x kw at strides kh, kw, the last
 * window may be cut short by the input's end (ceil_mode / end-only 'same' padding); the first maximum
 * in row-major window order wins, a NaN wins over every number (the last NaN), then relu.
 *
 * idx[c] is the position i * kw + j of the window's winner, or DEAD (255) where the pooled value is
 * <= 0: ReLU's backward (threshold_backward: out <= 0 ? 0 : grad) passes the gradient elsewhere,
 * NaN included.
 * The backward pass writes every input-gradient element exactly once (no zero fill + scatter).
 * Images run in parallel with OpenMP when built with it: the library links the libgomp torch has
 * loaded (the same soname), so it shares torch's threads and torch.set_num_threads applies.
 *
 * Channels go in blocks of L lanes with GCC/Clang vector extensions (selects are bitwise, so values
 * pass bit for bit); the C % L tail runs the same arithmetic one channel at a time.
 */
#include <stdint.h>
#include <string.h>

#define DEAD 255
#define L 4
typedef float vf __attribute__((vector_size(4 * L)));
typedef int32_t vi __attribute__((vector_size(4 * L)));
typedef uint8_t vb __attribute__((vector_size(L)));

static inline vf loadf(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
static inline void storef(float *p, vf v) { memcpy(p, &v, sizeof v); }
static inline vf pick(vi mask, vf a, vf b) { return (vf)((mask & (vi)a) | (~mask & (vi)b)); }

/* Fold window row i (cols pixels from xr) into the running max m / winner pos of channels
 * [c, c + L); i == 0 starts the window. */
static inline void fold_block(const float *xr, float *m, uint8_t *pos, int64_t i, int64_t cols,
                              int64_t C, int64_t kw) {
    vf best = i == 0 ? loadf(xr) : loadf(m);
    vb b;
    memcpy(&b, pos, sizeof b);
    vi at = i == 0 ? (vi){0} : __builtin_convertvector(b, vi);
    for (int64_t j = (i == 0); j < cols; j++) {
        vf v = loadf(xr + j * C);
        vi take = (v > best) | (v != v);
        best = pick(take, v, best);
        at = (take & (int32_t)(i * kw + j)) | (~take & at);
    }
    storef(m, best);
    b = __builtin_convertvector(at, vb);
    memcpy(pos, &b, sizeof b);
}

static inline void fold_one(const float *xr, float *m, uint8_t *pos, int64_t i, int64_t cols,
                            int64_t C, int64_t kw) {
    float best = i == 0 ? xr[0] : *m;
    int at = i == 0 ? 0 : *pos;
    for (int64_t j = (i == 0); j < cols; j++) {
        float v = xr[j * C];
        if (v > best || v != v) {
            best = v;
            at = (int)(i * kw + j);
        }
    }
    *m = best;
    *pos = (uint8_t)at;
}

/* ReLU on a finished output row; winners whose pooled value is <= 0 get no gradient (DEAD) */
static void relu_row(float *y, uint8_t *idx, int64_t n) {
    for (int64_t c = 0; c < n; c++) {
        float v = y[c];
        idx[c] = v <= 0.0f ? DEAD : idx[c];
        y[c] = v < 0.0f ? 0.0f : v; /* relu keeps NaN, as torch.relu does */
    }
}

#define PARALLEL_MIN 65536 /* elements below which one thread is faster than waking the others */

void pool_relu_forward(const float *x, float *y, uint8_t *idx, int64_t N, int64_t H, int64_t W,
                       int64_t C, int64_t kh, int64_t kw, int64_t Ho, int64_t Wo) {
#pragma omp parallel for schedule(static) if (N * H * W * C >= PARALLEL_MIN)
    for (int64_t n = 0; n < N; n++) {
        for (int64_t oh = 0; oh < Ho; oh++) {
            int64_t h0 = oh * kh, rows = h0 + kh < H ? kh : H - h0;
            float *yr = y + (n * Ho + oh) * Wo * C;
            uint8_t *ir = idx + (n * Ho + oh) * Wo * C;
            for (int64_t i = 0; i < rows; i++) { /* input rows in order: one stream */
                const float *xr = x + (n * H + h0 + i) * W * C;
                for (int64_t ow = 0; ow < Wo; ow++) {
                    int64_t w0 = ow * kw, cols = w0 + kw < W ? kw : W - w0, o = ow * C, c = 0;
                    for (; c + L <= C; c += L) fold_block(xr + w0 * C + c, yr + o + c, ir + o + c, i, cols, C, kw);
                    for (; c < C; c++) fold_one(xr + w0 * C + c, yr + o + c, ir + o + c, i, cols, C, kw);
                }
            }
            relu_row(yr, ir, Wo * C);
        }
    }
}

/* one input pixel's gradient: the pooled gradient where this pixel won its window (position t) */
static inline void scatter_pixel(const float *g, const uint8_t *idx, float *out, int64_t C, int32_t t) {
    int64_t c = 0;
    for (; c + L <= C; c += L) {
        vb b;
        memcpy(&b, idx + c, sizeof b);
        vi won = __builtin_convertvector(b, vi) == t;
        storef(out + c, (vf)(won & (vi)loadf(g + c)));
    }
    for (; c < C; c++) out[c] = idx[c] == t ? g[c] : 0.0f;
}

void pool_relu_backward(const float *g, const uint8_t *idx, float *gx, int64_t N, int64_t H, int64_t W,
                        int64_t C, int64_t kh, int64_t kw, int64_t Ho, int64_t Wo) {
    int64_t Hc = Ho * kh < H ? Ho * kh : H, Wc = Wo * kw < W ? Wo * kw : W; /* inside some window */
#pragma omp parallel for schedule(static) if (N * H * W * C >= PARALLEL_MIN)
    for (int64_t n = 0; n < N; n++) {
        for (int64_t h = 0; h < H; h++) {
            float *row = gx + (n * H + h) * W * C;
            if (h >= Hc) { /* rows past the last window (floor mode): no gradient */
                memset(row, 0, (size_t)(W * C) * sizeof(float));
                continue;
            }
            int64_t oh = h / kh, i = h - oh * kh;
            const float *grow = g + (n * Ho + oh) * Wo * C;
            const uint8_t *irow = idx + (n * Ho + oh) * Wo * C;
            for (int64_t ow = 0, w = 0; ow < Wo; ow++) {
                for (int64_t j = 0; j < kw && w < Wc; j++, w++)
                    scatter_pixel(grow + ow * C, irow + ow * C, row + w * C, C, (int32_t)(i * kw + j));
            }
            if (Wc < W) memset(row + Wc * C, 0, (size_t)((W - Wc) * C) * sizeof(float));
        }
    }
}

/* Max unpooling at a pool's winners (the plan's MaxUnpool2D at a pool that ran here; convolab/engine/
 * native/pool.py unpool). idx[c] is the winner i * kw + j of a Ho x Wo window grid on an H x W plane, or
 * DEAD, which stands for the window's first position (the switch where the pooled value was <= 0).
 * Forward: every output element written once, the value at its window's winner (ReLU'd first where
 * relu: torch.relu keeps NaN), else 0. Backward (unpool_gather): each value's gradient is the output
 * gradient at its winner, 0 where relu and the value is <= 0 (threshold_backward: NaN passes). */
static inline int64_t winner_at(uint8_t p) { return p == DEAD ? 0 : p; }

void unpool_forward(const float *x, const uint8_t *idx, float *out, int64_t N, int64_t H, int64_t W,
                    int64_t C, int64_t kh, int64_t kw, int64_t Ho, int64_t Wo, int64_t relu) {
    int64_t Hc = Ho * kh < H ? Ho * kh : H, Wc = Wo * kw < W ? Wo * kw : W; /* inside some window */
#pragma omp parallel for schedule(static) if (N * H * W * C >= PARALLEL_MIN)
    for (int64_t n = 0; n < N; n++) {
        for (int64_t h = 0; h < H; h++) {
            float *row = out + (n * H + h) * W * C;
            if (h >= Hc) {
                memset(row, 0, (size_t)(W * C) * sizeof(float));
                continue;
            }
            int64_t oh = h / kh, i = h - oh * kh;
            const float *xr = x + (n * Ho + oh) * Wo * C;
            const uint8_t *ir = idx + (n * Ho + oh) * Wo * C;
            for (int64_t ow = 0, w = 0; ow < Wo; ow++) {
                for (int64_t j = 0; j < kw && w < Wc; j++, w++) {
                    const float *xv = xr + ow * C;
                    const uint8_t *iv = ir + ow * C;
                    float *o = row + w * C;
                    int64_t t = i * kw + j;
                    for (int64_t c = 0; c < C; c++) {
                        float v = relu && xv[c] < 0.0f ? 0.0f : xv[c];
                        o[c] = winner_at(iv[c]) == t ? v : 0.0f;
                    }
                }
            }
            if (Wc < W) memset(row + Wc * C, 0, (size_t)((W - Wc) * C) * sizeof(float));
        }
    }
}

void unpool_gather(const float *g, const uint8_t *idx, const float *x, float *gx, int64_t N, int64_t H,
                   int64_t W, int64_t C, int64_t kh, int64_t kw, int64_t Ho, int64_t Wo, int64_t relu) {
#pragma omp parallel for schedule(static) if (N * Ho * Wo * C >= PARALLEL_MIN)
    for (int64_t n = 0; n < N; n++) {
        for (int64_t oh = 0; oh < Ho; oh++) {
            const uint8_t *ir = idx + (n * Ho + oh) * Wo * C;
            const float *xr = x + (n * Ho + oh) * Wo * C;
            float *o = gx + (n * Ho + oh) * Wo * C;
            for (int64_t ow = 0; ow < Wo; ow++) {
                const float *base = g + ((n * H + oh * kh) * W + ow * kw) * C;
                for (int64_t c = 0; c < C; c++) {
                    int64_t p = winner_at(ir[ow * C + c]), i = p / kw, j = p - i * kw;
                    float v = base[(i * W + j) * C + c];
                    o[ow * C + c] = relu && xr[ow * C + c] <= 0.0f ? 0.0f : v;
                }
            }
        }
    }
}
