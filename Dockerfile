# The oomkit image: one static binary on distroless/static (no shell, no
# libc, CA certificates and /etc/passwd only). The agent DaemonSet runs it
# as root (deploy/: /dev/kmsg and the state dir on the node are root's);
# everything else (oomkit events, explain on a file) runs as the image's
# non-root user.
#
#   docker build -t oomkit:dev --build-arg VERSION=v0.1.0 .
#   docker run --rm oomkit:dev explain --sample twist-1

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# Static: CGO_ENABLED=0 (oomkit uses no C); the test in deploy/ runs this line.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/oomkit/oomkit/internal/cli.version=${VERSION}" -o /out/oomkit ./cmd/oomkit

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/oomkit /usr/local/bin/oomkit
# 65532, distroless's "nonroot".
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/oomkit"]
CMD ["--help"]
