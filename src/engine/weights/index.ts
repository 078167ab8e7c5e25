// Public surface of the weights folder: safetensors, GGUF, tensor names, GGUF <-> HF model form.
export { WeightsError, type WeightsErrorCode } from './errors.js';
export { f32ToF16Bits, f16BitsToF32, f32ToBf16Bits, bf16BitsToF32, f16BytesToF32, bf16BytesToF32, f32ToF16Bytes, f32ToBf16Bytes } from './half.js';
export { readSafetensors, parseSafetensors, readSafetensorsIndex, readSafetensorsDir, writeSafetensors, tensorToFloat32, float32ToTensor, type SafetensorsTensor, type SafetensorsFile, type SafetensorsDtype, type SafetensorsIndex } from './safetensors.js';
export { readGguf, parseGguf, writeGguf, ggufTensorToFloat32, metaValue, gv, type GgufFile, type GgufTensorInfo, type GgufValue, type GgufTensorToWrite } from './gguf.js';
export { dequantize, quantize, GGML_TYPES, DEQUANTIZABLE, QUANTIZABLE, type GgmlTypeName } from './quants.js';
export { hfToCanonical, canonicalToHf, permuteQK, unpermuteQK } from './tensor-names.js';
export { GGUF_ARCHS, archByGguf, archByModelType, type GgufArch } from './gguf-arch.js';
export { tokenizerFromGguf, tokenizerToGgufMetadata, mergesFromScores, PRE_TOKENIZERS } from './gguf-tokenizer.js';
export { readGgufModel, writeGgufModel, llama3RopeFactors, type LoadedModel, type FloatTensor, type HfConfig, type GgufExportType } from './gguf-model.js';
