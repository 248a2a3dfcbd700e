#!/usr/bin/env bash
# Entry point of the pipeline service images (deploy/service.Dockerfile).
#   service-entrypoint.sh          runs the service named by PIPELINE_SERVICE (set from build arg SERVICE)
#   service-entrypoint.sh health   exits 0 when GET /health/ready on the HTTP port answers 200
# Kestrel endpoints default to the port table (ServicePorts.cs) on all interfaces; set
# Kestrel__Endpoints__Grpc__Url / Kestrel__Endpoints__Http__Url to change them.
set -euo pipefail

service="${PIPELINE_SERVICE:?PIPELINE_SERVICE is not set: build the image with --build-arg SERVICE=...}"
case "$service" in
  ingest) grpc_port=5101 http_port=5201 ;;
  embed)  grpc_port=5102 http_port=5202 ;;
  rank)   grpc_port=5103 http_port=5203 ;;
  notify) grpc_port=5104 http_port=5204 ;;
  *) echo "unknown service '$service' (ingest, embed, rank or notify)" >&2; exit 64 ;;
esac

: "${Kestrel__Endpoints__Grpc__Url:=http://0.0.0.0:$grpc_port}"
: "${Kestrel__Endpoints__Http__Url:=http://0.0.0.0:$http_port}"
: "${OTEL_SERVICE_NAME:=$service}"
export Kestrel__Endpoints__Grpc__Url Kestrel__Endpoints__Http__Url OTEL_SERVICE_NAME

health() {
  # The port of the HTTP endpoint, whatever host form its URL uses (0.0.0.0, +, [::]).
  local port="${Kestrel__Endpoints__Http__Url##*:}"
  port="${port%%/*}"
  local status=""
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf 'GET /health/ready HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$port" >&3
  IFS=' ' read -r -t 4 _ status _ <&3 || return 1
  exec 3<&-
  [[ "$status" == 200 ]]
}

if [[ "${1:-}" == health ]]; then
  health
  exit
fi

# Pipeline.Ingest.dll, Pipeline.Embed.dll, ... beside this script (/app in the image).
app_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec dotnet "$app_dir/Pipeline.${service^}.dll" "$@"
