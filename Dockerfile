# syntax=docker/dockerfile:1
# OrderFlow's three binaries as static executables on a distroless base:
# no shell, no package manager, runs as an unprivileged user. Healthchecks
# run the binary itself (`<binary> probe URL`), since the image has no curl.
# Build: docker build -t orderflow .   (docker compose builds it once for every service)

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first: this layer stays cached while only the source changes.
COPY go.mod go.sum ./
RUN go mod download && go mod verify
COPY . .
# CGO_ENABLED=0: pure Go, no libc, so the binaries run on a base without one.
# -buildvcs=false: .git is not in the build context (.dockerignore).
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -buildvcs=false -ldflags="-s -w" \
        -o /out/ ./cmd/orderflow-api ./cmd/orderflow-relay ./cmd/orderflow-projector

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
# nonroot is uid/gid 65532 in distroless; numeric so that runAsNonRoot checks can verify it.
USER 65532:65532
# The API by default; compose sets the entrypoint of the relay and projector services.
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/orderflow-api"]
CMD ["serve"]
