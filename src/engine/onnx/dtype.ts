/** Tensor element types Attune uses, with their ONNX TensorProto codes and byte sizes. */
export type DType = 'int4' | 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool';

export const ONNX_DTYPE_CODE: Record<DType, number> = {
  float32: 1,
  int4: 22,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
  bfloat16: 16,
};


