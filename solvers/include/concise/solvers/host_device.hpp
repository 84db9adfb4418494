#pragma once
// Functions marked CONCISE_HOST_DEVICE compile for the host and, under nvcc, for the
// device too: the rules the CPU and CUDA backends share are written once.
#if defined(__CUDACC__)
#define CONCISE_HOST_DEVICE __host__ __device__
#else
#define CONCISE_HOST_DEVICE
#endif
