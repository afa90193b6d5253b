// The custom kernels' one source (model/kernels.h), written once and
// used twice: as text, compiled at run time by NVRTC for the GPU in use, and as C++, compiled
// into the addon and run on the CPU one "thread" at a time (model/kernels.cc), which is what lets
// the CPU tests check the kernels' arithmetic and indexing without a GPU.
//
// ELECTRA_KERNELS(...) expands its argument as code in electra::kcpu and stringifies the same
// tokens into kKernelSource (# does not macro-expand, so the text keeps EK_KERNEL, EK_TID_X, ...).
// The names are macros with a CUDA meaning in ELECTRA_KERNEL_PRELUDE (prepended for NVRTC) and a
// CPU one here. Two kinds of kernels: thread-level ones use no shared memory and no
// synchronisation (every thread computes its outputs alone, so the CPU runs the threads one after
// another and computes what the GPU does); the warp-level one (addLayerNorm) writes per-lane code
// between EK_LANES_BEGIN/END and combines lanes only through EK_WARP_SUM (shuffles on the GPU; on
// the CPU one call runs a whole warp, its lanes as a loop, and the sum's order differs).
//
// The two reductions reduce an (M, N) row-major matrix over its rows, in the layout of the backward
// pass (tokens x features): thread t of block (bx, by) owns the column pair j = 2 (bx * EK_BDIM_X +
// t), j + 1 (a warp reads 32 consecutive pairs of a row: one 128-byte line in bf16) and the rows
// [by * rows, (by + 1) * rows), and writes fp32 partial sums to row `by` of its output; the
// caller sums those partials over the row blocks (at::sum, a small matrix).
#pragma once
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace electra::kcpu {
struct Dim3 {
  unsigned x = 0, y = 0, z = 0;
};
inline thread_local Dim3 threadIdx, blockIdx, blockDim;
inline float asFloat(unsigned int u) { return std::bit_cast<float>(u); }
inline unsigned int loadU32(const void* p) {
  unsigned int u;
  std::memcpy(&u, p, sizeof u);
  return u;
}
inline unsigned long long loadU64(const void* p) {
  unsigned long long u;
  std::memcpy(&u, p, sizeof u);
  return u;
}
inline void storeU32(void* p, unsigned int u) { std::memcpy(p, &u, sizeof u); }
inline void storeU64(void* p, unsigned long long u) { std::memcpy(p, &u, sizeof u); }
inline unsigned int asUint(float f) { return std::bit_cast<unsigned int>(f); }
inline int imin(int a, int b) { return a < b ? a : b; }
}  // namespace electra::kcpu

#define EK_KERNEL inline void
#define EK_DEVICE inline
#define EK_RESTRICT __restrict
#define EK_TID_X threadIdx.x
#define EK_BID_X blockIdx.x
#define EK_BID_Y blockIdx.y
#define EK_BDIM_X blockDim.x
#define EK_AS_FLOAT(u) asFloat(u)
#define EK_AS_UINT(f) asUint(f)
#define EK_LOAD_U32(p) loadU32(p)
#define EK_LOAD_U64(p) loadU64(p)
#define EK_LOGF(x) std::log(static_cast<float>(x))
#define EK_STORE_U32(p, v) storeU32(p, v)
#define EK_STORE_U64(p, v) storeU64(p, v)
#define EK_RSQRTF(x) (1.0f / std::sqrt(static_cast<float>(x)))
// Warp-level code (one warp per row): on the CPU a kernel call is one warp, its lanes a loop;
// per-lane variables are arrays indexed by the lane.
#define EK_LANES_BEGIN for (int lane = 0; lane < 32; lane++) {
#define EK_LANES_END }
#define EK_LANE_VAR(type, name) type name[32]
#define EK_LANE_ARRAY(type, name, n) type name[32][n]
#define EK_LV(name) name[lane]
#define EK_WARP_SUM(name)                        \
  {                                              \
    float total_ = 0.f;                          \
    for (int l_ = 0; l_ < 32; l_++) total_ += name[l_]; \
    for (int l_ = 0; l_ < 32; l_++) name[l_] = total_;  \
  }
#define EK_WARP_ID (threadIdx.x / 32)
// One extern "C" entry per (dtype of a, width) of addLayerNorm: electra_addln_<tag>_<VPL>.
#define EK_ADDLN_ENTRY(TA, tag, VPL)                                                                                       \
  EK_KERNEL electra_addln_##tag##_##VPL(const TA* a, const float* b, const float* g, const float* be, float* x, float* y, float* mean, \
                                        float* rstd, int M, float eps) {                                                     \
    addLayerNorm<TA, VPL>(a, b, g, be, x, y, mean, rstd, M, eps);                                                          \
  }
#define EK_IMIN(a, b) imin(a, b)

#define ELECTRA_KERNELS(...)                              \
  namespace electra::kcpu {                               \
  __VA_ARGS__                                             \
  }                                                       \
  namespace electra {                                     \
  inline const char* const kKernelSource = #__VA_ARGS__; \
  }

// The CUDA meaning of the names, for NVRTC; bf16 values are handled as their 16 bits, and nothing
// comes from CUDA's headers (NVRTC compiles this alone, without include paths).
#define ELECTRA_KERNEL_PRELUDE                          \
  "#define EK_KERNEL extern \"C\" __global__ void\n"       \
  "#define EK_DEVICE __device__ __forceinline__\n"         \
  "#define EK_RESTRICT __restrict__\n"                     \
  "#define EK_TID_X threadIdx.x\n"                         \
  "#define EK_BID_X blockIdx.x\n"                          \
  "#define EK_BID_Y blockIdx.y\n"                          \
  "#define EK_BDIM_X blockDim.x\n"                         \
  "#define EK_AS_FLOAT(u) ek_as_float(u)\n"                \
  "#define EK_LOAD_U32(p) (*reinterpret_cast<const unsigned int*>(p))\n" \
  "#define EK_LOAD_U64(p) (*reinterpret_cast<const unsigned long long*>(p))\n" \
  "#define EK_LOGF(x) logf(x)\n"                          \
  "#define EK_STORE_U32(p, v) (*reinterpret_cast<unsigned int*>(p) = (v))\n" \
  "#define EK_STORE_U64(p, v) (*reinterpret_cast<unsigned long long*>(p) = (v))\n" \
  "#define EK_RSQRTF(x) rsqrtf(x)\n"                       \
  "#define EK_AS_UINT(f) ek_as_uint(f)\n"                  \
  "#define EK_LANES_BEGIN { const int lane = static_cast<int>(threadIdx.x) & 31;\n" \
  "#define EK_LANES_END }\n"                               \
  "#define EK_LANE_VAR(type, name) type name\n"            \
  "#define EK_LANE_ARRAY(type, name, n) type name[n]\n"    \
  "#define EK_LV(name) name\n"                             \
  "#define EK_WARP_SUM(name) for (int m_ = 16; m_ > 0; m_ >>= 1) name += __shfl_xor_sync(0xffffffffu, name, m_);\n" \
  "#define EK_WARP_ID (threadIdx.x / 32)\n"                \
  "#define EK_ADDLN_ENTRY(TA, tag, VPL) EK_KERNEL electra_addln_##tag##_##VPL(const TA* a, const float* b, const float* g, " \
  "const float* be, float* x, float* y, float* mean, float* rstd, int M, float eps) { addLayerNorm<TA, VPL>(a, b, g, be, x, y, mean, rstd, M, eps); }\n" \
  "__device__ __forceinline__ unsigned int ek_as_uint(float f) {\n" \
  "  union { float f; unsigned int u; } v;\n"            \
  "  v.f = f;\n"                                          \
  "  return v.u;\n"                                       \
  "}\n"                                                   \
  "#define EK_IMIN(a, b) ((a) < (b) ? (a) : (b))\n"       \
  "__device__ __forceinline__ float ek_as_float(unsigned int u) {\n" \
  "  union { unsigned int u; float f; } v;\n"           \
  "  v.u = u;\n"                                         \
  "  return v.f;\n"                                      \
  "}\n"

ELECTRA_KERNELS(
    // Two adjacent elements (i, i + 1) as floats: fp32, or bf16 as one 32-bit load (little-endian:
    // element i is the low half; a bf16's bits are the top 16 of the float's).
    // One 8-byte load for two floats, one 4-byte load for two bf16 values (i is even and the
    // tensors 8-byte aligned: columnSums() and layerNormWeightGrads() check).
    EK_DEVICE void load2(const float* EK_RESTRICT p, long long i, float& a, float& b) {
      const unsigned long long u = EK_LOAD_U64(p + i);
      a = EK_AS_FLOAT(static_cast<unsigned int>(u & 0xffffffffull));
      b = EK_AS_FLOAT(static_cast<unsigned int>(u >> 32));
    }

    EK_DEVICE void load2(const unsigned short* EK_RESTRICT p, long long i, float& a, float& b) {
      const unsigned int u = EK_LOAD_U32(p + i);
      a = EK_AS_FLOAT(u << 16);
      b = EK_AS_FLOAT(u & 0xffff0000u);
    }

    // Column sums of g (M, N): out (gridDim.y, N), partial sums over each block of rows. The bias
    // gradient of a linear layer is the column sum of its output's gradient.
    template <typename T>
    EK_DEVICE void columnSums(const T* EK_RESTRICT g, float* EK_RESTRICT out, int M, int N, int rows) {
      const int j = 2 * static_cast<int>(EK_BID_X * EK_BDIM_X + EK_TID_X);
      if (j >= N) return;
      const int r0 = static_cast<int>(EK_BID_Y) * rows;
      const int r1 = EK_IMIN(M, r0 + rows);
      float s0 = 0.f, s1 = 0.f;
      int r = r0;
      // Four rows per iteration, their loads issued before any add: four loads in flight per
      // thread, which a streaming reduction needs to approach the memory's bandwidth.
      for (; r + 4 <= r1; r += 4) {
        const long long i = static_cast<long long>(r) * N + j;
        float a0, b0, a1, b1, a2, b2, a3, b3;
        load2(g, i, a0, b0);
        load2(g, i + N, a1, b1);
        load2(g, i + 2LL * N, a2, b2);
        load2(g, i + 3LL * N, a3, b3);
        s0 += (a0 + a1) + (a2 + a3);
        s1 += (b0 + b1) + (b2 + b3);
      }
      for (; r < r1; r++) {
        float a, b;
        load2(g, static_cast<long long>(r) * N + j, a, b);
        s0 += a;
        s1 += b;
      }
      const long long o = static_cast<long long>(EK_BID_Y) * N + j;
      out[o] = s0;
      out[o + 1] = s1;
    }

    // LayerNorm's weight and bias gradients: gw = sum over rows of dy * (x - mean) * rstd, gb = sum
    // of dy, with mean and rstd (M) the forward pass's fp32 statistics. Partial sums as above.
    template <typename T>
    EK_DEVICE void layerNormRow(const T* EK_RESTRICT dy, const T* EK_RESTRICT x, const float* EK_RESTRICT mean, const float* EK_RESTRICT rstd,
                                int r, long long i, float& w0, float& w1, float& b0, float& b1) {
      float d0, d1, x0, x1;
      load2(dy, i, d0, d1);
      load2(x, i, x0, x1);
      const float m = mean[r], s = rstd[r];
      w0 += d0 * ((x0 - m) * s);
      w1 += d1 * ((x1 - m) * s);
      b0 += d0;
      b1 += d1;
    }

    template <typename T>
    EK_DEVICE void layerNormWeightGrads(const T* EK_RESTRICT dy, const T* EK_RESTRICT x, const float* EK_RESTRICT mean,
                                        const float* EK_RESTRICT rstd, float* EK_RESTRICT gw, float* EK_RESTRICT gb, int M, int N, int rows) {
      const int j = 2 * static_cast<int>(EK_BID_X * EK_BDIM_X + EK_TID_X);
      if (j >= N) return;
      const int r0 = static_cast<int>(EK_BID_Y) * rows;
      const int r1 = EK_IMIN(M, r0 + rows);
      // Two accumulator sets over alternate rows (more loads in flight), added at the end.
      float w0 = 0.f, w1 = 0.f, b0 = 0.f, b1 = 0.f, v0 = 0.f, v1 = 0.f, c0 = 0.f, c1 = 0.f;
      int r = r0;
      for (; r + 2 <= r1; r += 2) {
        const long long i = static_cast<long long>(r) * N + j;
        layerNormRow(dy, x, mean, rstd, r, i, w0, w1, b0, b1);
        layerNormRow(dy, x, mean, rstd, r + 1, i + N, v0, v1, c0, c1);
      }
      if (r < r1) layerNormRow(dy, x, mean, rstd, r, static_cast<long long>(r) * N + j, w0, w1, b0, b1);
      const long long o = static_cast<long long>(EK_BID_Y) * N + j;
      gw[o] = w0 + v0;
      gw[o + 1] = w1 + v1;
      gb[o] = b0 + c0;
      gb[o + 1] = b1 + c1;
    }

    // Gumbel-max sampling, the value of one vocabulary entry: the logit plus Gumbel noise from the
    // uniform draw u, as masking.cc's addGumbelNoise computes it (l - log(1e-9 - log(u + 1e-9)),
    // or -g + l / T at temperature T), so that both paths sample the same distribution.
    EK_DEVICE float gumbelValue(float l, float u, float invTemp, int tempIsOne) {
      const float g = EK_LOGF(1e-9f - EK_LOGF(u + 1e-9f));
      return tempIsOne ? l - g : -g + invTemp * l;
    }

    // Its argmax over each row of (rows, V), in one pass over the logits and the draws instead of
    // five over (rows, V) buffers: block (r, s) covers columns [s * segCols, (s + 1) * segCols) of
    // row r, thread t every blockDim-th of them, and writes its best value and column (its first
    // on ties; -inf and -1 when it has no column) to slot (r * nseg + s) * blockDim + t. The caller
    // takes the argmax over each row's slots (at::argmax: the lowest slot on ties, which need not
    // be the lowest column, unlike ATen's argmax over the row; exact ties at a row's maximum have
    // probability ~0 with continuous noise). NaN: a thread keeps one only as its first value; the
    // index returned is always a column of the row.
    EK_KERNEL electra_gumbel_argmax(const float* EK_RESTRICT l, const float* EK_RESTRICT u, float* EK_RESTRICT pval, int* EK_RESTRICT pidx,
                                    int V, int segCols, int nseg, float invTemp, int tempIsOne) {
      const int t = static_cast<int>(EK_TID_X), seg = static_cast<int>(EK_BID_Y);
      const long long r = static_cast<long long>(EK_BID_X);
      const int c0 = seg * segCols, c1 = EK_IMIN(V, c0 + segCols);
      const long long base = r * V;
      float best = EK_AS_FLOAT(0xff800000u);  // -inf
      int bi = -1;
      for (int c = c0 + t; c < c1; c += static_cast<int>(EK_BDIM_X)) {
        const float v = gumbelValue(l[base + c], u[base + c], invTemp, tempIsOne);
        if (bi < 0 || v > best) {
          best = v;
          bi = c;
        }
      }
      const long long o = (r * nseg + seg) * static_cast<long long>(EK_BDIM_X) + t;
      pval[o] = best;
      pidx[o] = bi;
    }

    // Two adjacent fp32 values in one 8-byte store.
    EK_DEVICE void store2(float* EK_RESTRICT p, long long i, float a, float b) {
      EK_STORE_U64(p + i, (static_cast<unsigned long long>(EK_AS_UINT(b)) << 32) | EK_AS_UINT(a));
    }

    // Residual add and LayerNorm in one pass, one warp per row of N = 32 * VPL features: x = a + b
    // in fp32 (stored: the backward pass needs it), mean and variance of x (two passes over
    // registers), y = (x - mean) * rstd * gamma + beta with the fp32 weights; mean and rstd (M) for
    // the backward pass. a is fp32 or bf16, b (the residual) fp32.
    // Lane l holds the pairs (64 k + 2 l, 64 k + 2 l + 1): each load of a warp covers 64
    // consecutive features.
    template <typename TA, int VPL>
    EK_DEVICE void addLayerNorm(const TA* EK_RESTRICT a, const float* EK_RESTRICT b, const float* EK_RESTRICT gamma, const float* EK_RESTRICT beta,
                                float* EK_RESTRICT x, float* EK_RESTRICT y, float* EK_RESTRICT mean, float* EK_RESTRICT rstd, int M, float eps) {
      const int N = 32 * VPL;
      const long long row = static_cast<long long>(EK_BID_X) * (EK_BDIM_X / 32) + EK_WARP_ID;
      if (row >= M) return;
      const long long base = row * N;
      EK_LANE_ARRAY(float, v, VPL);
      EK_LANE_VAR(float, s);
      EK_LANE_VAR(float, q);
      EK_LANES_BEGIN
      EK_LV(s) = 0.f;
      for (int k = 0; k < VPL / 2; k++) {
        const long long i = base + 64 * k + 2 * lane;
        float a0, a1, b0, b1;
        load2(a, i, a0, a1);
        load2(b, i, b0, b1);
        const float x0 = a0 + b0, x1 = a1 + b1;
        EK_LV(v)[2 * k] = x0;
        EK_LV(v)[2 * k + 1] = x1;
        EK_LV(s) += x0 + x1;
        store2(x, i, x0, x1);
      }
      EK_LANES_END
      EK_WARP_SUM(s)
      EK_LANES_BEGIN
      const float m = EK_LV(s) / N;
      (void)lane;
      EK_LV(q) = 0.f;
      for (int k = 0; k < VPL; k++) {
        const float d = EK_LV(v)[k] - m;
        EK_LV(q) += d * d;
      }
      EK_LANES_END
      EK_WARP_SUM(q)
      EK_LANES_BEGIN
      const float m = EK_LV(s) / N;
      const float r = EK_RSQRTF(EK_LV(q) / N + eps);
      for (int k = 0; k < VPL / 2; k++) {
        const int c = 64 * k + 2 * lane;
        const float y0 = (EK_LV(v)[2 * k] - m) * r * gamma[c] + beta[c];
        const float y1 = (EK_LV(v)[2 * k + 1] - m) * r * gamma[c + 1] + beta[c + 1];
        store2(y, base + c, y0, y1);
      }
      if (lane == 0) {
        mean[row] = m;
        rstd[row] = r;
      }
      EK_LANES_END
    }

    EK_ADDLN_ENTRY(unsigned short, bf16f32, 2) EK_ADDLN_ENTRY(unsigned short, bf16f32, 4) EK_ADDLN_ENTRY(unsigned short, bf16f32, 8)
    EK_ADDLN_ENTRY(unsigned short, bf16f32, 16) EK_ADDLN_ENTRY(unsigned short, bf16f32, 24) EK_ADDLN_ENTRY(unsigned short, bf16f32, 32)
    EK_ADDLN_ENTRY(float, f32, 2) EK_ADDLN_ENTRY(float, f32, 4) EK_ADDLN_ENTRY(float, f32, 8)
    EK_ADDLN_ENTRY(float, f32, 16) EK_ADDLN_ENTRY(float, f32, 24) EK_ADDLN_ENTRY(float, f32, 32)

    EK_KERNEL electra_colsum_f32(const float* g, float* out, int M, int N, int rows) { columnSums(g, out, M, N, rows); }
    EK_KERNEL electra_colsum_bf16(const unsigned short* g, float* out, int M, int N, int rows) { columnSums(g, out, M, N, rows); }
    EK_KERNEL electra_lnw_f32(const float* dy, const float* x, const float* mean, const float* rstd, float* gw, float* gb, int M, int N,
                           int rows) { layerNormWeightGrads(dy, x, mean, rstd, gw, gb, M, N, rows); })

#undef EK_KERNEL
#undef EK_DEVICE
#undef EK_RESTRICT
#undef EK_TID_X
#undef EK_BID_X
#undef EK_BID_Y
#undef EK_BDIM_X
#undef EK_AS_FLOAT
#undef EK_LOAD_U32
#undef EK_LOAD_U64
#undef EK_LOGF
#undef EK_STORE_U32
#undef EK_STORE_U64
#undef EK_RSQRTF
#undef EK_AS_UINT
#undef EK_LANES_BEGIN
#undef EK_LANES_END
#undef EK_LANE_VAR
#undef EK_LANE_ARRAY
#undef EK_LV
#undef EK_WARP_SUM
#undef EK_WARP_ID
#undef EK_ADDLN_ENTRY
#undef EK_IMIN
