# One image recipe for all four pipeline services. Build from the repository root:
#
#   docker build -f deploy/service.Dockerfile --build-arg SERVICE=embed -t pipeline-embed .
#
# SERVICE is ingest, embed, rank or notify and selects services/Pipeline.<Service>.
# docker-compose.yml builds each service this way; docs/deploy.md has the settings.

ARG DOTNET_VERSION=10.0

# --- projects: only the files restore reads (project, props and targets files) -------------------
# This stage changes with every source edit, but what it hands on only changes when a project file
# does, so the restore layer below stays cached across ordinary code changes.
FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS projects
WORKDIR /src
COPY . .
RUN mkdir /projects \
 && find . -type f \( -name '*.csproj' -o -name '*.props' -o -name '*.targets' \
        -o -name 'global.json' -o -iname 'nuget.config' \) -print0 \
    | xargs -0 cp --parents -t /projects

# --- build: restore, then publish the one service --------------------------------------------------
FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS build
ARG SERVICE
ARG TARGETARCH
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    DOTNET_NOLOGO=1
RUN case "${SERVICE}" in ingest|embed|rank|notify) ;; \
      *) echo "Build with --build-arg SERVICE=ingest|embed|rank|notify (got '${SERVICE}')." >&2; exit 1 ;; \
    esac
WORKDIR /src
COPY --from=projects /projects/ ./
# A runtime identifier keeps only this platform's native libraries (ONNX Runtime ships one set per
# platform in its NuGet package); the image stays framework-dependent.
RUN project="services/Pipeline.${SERVICE^}/Pipeline.${SERVICE^}.csproj" \
 && rid="linux-$(case "${TARGETARCH:-amd64}" in amd64) echo x64 ;; *) echo "${TARGETARCH}" ;; esac)" \
 && echo "${rid}" > /tmp/rid \
 && dotnet restore "${project}" -r "${rid}"
COPY . .
RUN project="services/Pipeline.${SERVICE^}/Pipeline.${SERVICE^}.csproj" \
 && dotnet publish "${project}" -c Release -r "$(cat /tmp/rid)" --self-contained false --no-restore \
      -p:UseAppHost=false -o /app \
 && install -m 0755 deploy/service-entrypoint.sh /app/service-entrypoint.sh

# --- runtime -----------------------------------------------------------------------------------------
FROM mcr.microsoft.com/dotnet/aspnet:${DOTNET_VERSION} AS runtime
ARG SERVICE
# The service listens on the ports of the port table on all interfaces: service-entrypoint.sh sets
# Kestrel__Endpoints__Grpc__Url and Kestrel__Endpoints__Http__Url unless they are set already.
# ASPNETCORE_HTTP_PORTS (8080 in the base image) is cleared so only those endpoints are bound.
ENV PIPELINE_SERVICE=${SERVICE} \
    ASPNETCORE_HTTP_PORTS= \
    DOTNET_CLI_TELEMETRY_OPTOUT=1
WORKDIR /app
COPY --from=build /app ./
EXPOSE 5101 5102 5103 5104 5201 5202 5203 5204
# The base image's non-root user 'app'.
USER $APP_UID
# GET /health/ready on the HTTP port over bash's /dev/tcp: no curl needed in the image.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/app/service-entrypoint.sh", "health"]
ENTRYPOINT ["/app/service-entrypoint.sh"]
