#pragma once
// The cuSPARSE generic SpMM (CSR times row-major dense) on the CPU.
#include <cstdint>

#include "cublas_v2.h"

struct cusparseContext;
using cusparseHandle_t = cusparseContext*;
struct cusparseSpMatDescr;
using cusparseSpMatDescr_t = cusparseSpMatDescr*;
struct cusparseDnMatDescr;
using cusparseDnMatDescr_t = cusparseDnMatDescr*;
enum cusparseStatus_t {
  CUSPARSE_STATUS_SUCCESS = 0,
  CUSPARSE_STATUS_INVALID_VALUE = 3,
  CUSPARSE_STATUS_NOT_SUPPORTED = 10,
};
enum cusparseIndexType_t { CUSPARSE_INDEX_32I = 2, CUSPARSE_INDEX_64I = 3 };
enum cusparseIndexBase_t { CUSPARSE_INDEX_BASE_ZERO = 0 };
enum cusparseOrder_t { CUSPARSE_ORDER_COL = 1, CUSPARSE_ORDER_ROW = 2 };
enum cusparseOperation_t { CUSPARSE_OPERATION_NON_TRANSPOSE = 0, CUSPARSE_OPERATION_TRANSPOSE = 1 };
enum cusparseSpMMAlg_t { CUSPARSE_SPMM_ALG_DEFAULT = 0, CUSPARSE_SPMM_CSR_ALG1 = 4 };

cusparseStatus_t cusparseCreate(cusparseHandle_t* handle);
cusparseStatus_t cusparseDestroy(cusparseHandle_t handle);
cusparseStatus_t cusparseSetStream(cusparseHandle_t handle, cudaStream_t stream);
const char* cusparseGetErrorString(cusparseStatus_t status);
cusparseStatus_t cusparseCreateCsr(cusparseSpMatDescr_t* descr, std::int64_t rows, std::int64_t cols,
                                   std::int64_t nnz, void* offsets, void* columns, void* values,
                                   cusparseIndexType_t offset_type, cusparseIndexType_t column_type,
                                   cusparseIndexBase_t base, cudaDataType_t value_type);
cusparseStatus_t cusparseDestroySpMat(cusparseSpMatDescr_t descr);
cusparseStatus_t cusparseCreateDnMat(cusparseDnMatDescr_t* descr, std::int64_t rows, std::int64_t cols,
                                     std::int64_t ld, void* values, cudaDataType_t value_type, cusparseOrder_t order);
cusparseStatus_t cusparseDestroyDnMat(cusparseDnMatDescr_t descr);
cusparseStatus_t cusparseSpMM_bufferSize(cusparseHandle_t handle, cusparseOperation_t op_a, cusparseOperation_t op_b,
                                         const void* alpha, cusparseSpMatDescr_t a, cusparseDnMatDescr_t b,
                                         const void* beta, cusparseDnMatDescr_t c, cudaDataType_t compute,
                                         cusparseSpMMAlg_t alg, std::size_t* bytes);
cusparseStatus_t cusparseSpMM(cusparseHandle_t handle, cusparseOperation_t op_a, cusparseOperation_t op_b,
                              const void* alpha, cusparseSpMatDescr_t a, cusparseDnMatDescr_t b, const void* beta,
                              cusparseDnMatDescr_t c, cudaDataType_t compute, cusparseSpMMAlg_t alg, void* buffer);
