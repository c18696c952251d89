/* clones.h - the hot loops of our own (ReLU, dropout, residual adds, batch norm,
 * the optimizer's update) in one copy per vector ISA, the one for the CPU picked
 * when the program loads (GCC's target_clones: an ifunc resolved from cpuid).
 * So the default, portable build (Makefile: ARCH=x86-64-v2) runs them with AVX2
 * or AVX-512 where the CPU has them, as OpenBLAS and oneDNN do for theirs, and a
 * binary still runs on every x86-64-v2 node. Results do not depend on the copy: the same source, no FP
 * contraction or reassociation (-ffp-contract=off), fixed reduction lanes.
 * Off (one copy, the build's ISA) elsewhere than GCC on x86-64, and with
 * -DDS_NO_CLONES. Internal to the library (src/nn, and data's batch fill). */
#ifndef DEEPSIGNS_NN_CLONES_H
#define DEEPSIGNS_NN_CLONES_H

/* DS_INLINE_CLONED marks a static helper of such a function: GCC does not inline
 * a plain function into a clone of another ISA by itself, and called, the helper
 * would run at the build's ISA. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(DS_NO_CLONES)
#define DS_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define DS_INLINE_CLONED __attribute__((always_inline)) inline
#else
#define DS_CLONES
#define DS_INLINE_CLONED
#endif

#endif
