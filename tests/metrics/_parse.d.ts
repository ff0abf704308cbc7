/** Types for `parse-prometheus-text-format` (the package ships none). */
export default function parsePrometheusTextFormat(text: string): unknown[];
