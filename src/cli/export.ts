/** `electra export`: a model to ONNX, in the directory layout transformers.js loads. */
import { ElectraError } from '../errors';
import { exportOnnx, DEFAULT_OPSET, OPSET_IR } from '../export';
import { checkHead, HEADS } from '../export/source';
import { num, parse } from './args';

const USAGE = `usage: electra export --model DIR --out DIR [options]

Writes the model as ONNX for onnxruntime (node, web) and transformers.js, with no libtorch needed
to run it: OUT/config.json, tokenizer.json, tokenizer_config.json, OUT/onnx/model.onnx and, with
--quantize q8, OUT/onnx/model_quantized.onnx (int8 weights, about a quarter of the size).

options:
  --model DIR         a Hugging Face ELECTRA directory (config.json + model.safetensors or
                      pytorch_model.bin, with tokenizer files): a fine-tuned model, a pre-training
                      checkpoint's discriminator or generator, or any ELECTRA from the Hub
  --out DIR           the output directory
  --quantize q8       also write the int8 model (per-channel int8 MatMul weights, dynamic
                      activation quantization; int8 word embeddings)
  --opset N           ONNX opset, ${Object.keys(OPSET_IR).join(', ')} (default ${DEFAULT_OPSET}; from 20 GELU is the Gelu operator)
  --head H            the head to export (default: the model's architecture):
                      ${HEADS.join(', ')}; none exports the encoder (last_hidden_state)
  --overwrite         replace OUT even when it holds something else than an export of this model
  --external-data     keep the weights in onnx/model.onnx_data (automatic above 2 GiB)
  --no-tokenizer      write the graph and config.json only (a model without tokenizer files)
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    model: { type: 'string' },
    out: { type: 'string' },
    quantize: { type: 'string' },
    opset: { type: 'string' },
    head: { type: 'string' },
    overwrite: { type: 'boolean' },
    'external-data': { type: 'boolean' },
    'no-tokenizer': { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!values.model) throw new ElectraError('ERR_INPUT', '--model DIR is required');
  if (!values.out) throw new ElectraError('ERR_INPUT', '--out DIR is required');
  const q = values.quantize;
  if (q !== undefined && q !== 'q8') throw new ElectraError('ERR_INPUT', `--quantize must be q8, got ${JSON.stringify(q)}`);
  const t0 = Date.now();
  const r = await exportOnnx(values.model, {
    out: values.out,
    quantize: q === 'q8' ? 'q8' : 'none',
    opset: num(values.opset, 'opset', { int: true }),
    head: values.head === undefined ? undefined : checkHead(values.head),
    overwrite: values.overwrite ?? false,
    externalData: values['external-data'] ? 'always' : 'auto',
    tokenizer: values['no-tokenizer'] ? false : undefined,
  });
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;
  const lines = [
    `exported ${values.model} (${r.head}) to ${r.out} in ${((Date.now() - t0) / 1000).toFixed(1)} s: opset ${r.opset}, inputs ${r.inputs.join(', ')}, outputs ${r.outputs.join(', ')}`,
    `  onnx/model.onnx: ${mb(r.bytes.fp32)}`,
  ];
  if (r.bytes.q8 !== undefined) lines.push(`  onnx/model_quantized.onnx: ${mb(r.bytes.q8)} (${((100 * r.bytes.q8) / r.bytes.fp32).toFixed(0)}% of fp32)`);
  lines.push(`  files: ${r.files.map((f) => f.path).join(', ')}`);
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
