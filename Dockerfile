# keyjob's own image: the static binary (CGO_ENABLED=0) and the CA bundle
# for rediss:// on `FROM scratch`, so no base image is pulled and nothing
# but keyjob is in it (no shell, no package manager).
#
# The binary is built on the host, not in a golang stage: machines that
# cannot pull images (no registry) build this image too. Build it with
#   make keyjob-image        (scripts/keyjob-image.sh: go build, then
#                            docker build with a context of two files)
# which tags localhost/keyjob:local; docker build on the repository root
# does not work (the context must hold the built binary).
#
# Run:  docker run --rm localhost/keyjob:local version
#       docker run --rm -e REDIS_URL -v "$PWD:/work" -w /work \
#         localhost/keyjob:local plan jobs/orders-ttl.yaml
FROM scratch
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY keyjob /keyjob
# Not root: 65532 is the conventional "nonroot" id of distroless images;
# give the state volume to it (Kubernetes: securityContext.fsGroup).
USER 65532:65532
# The state dir (checkpoints, journals, reports) belongs on a volume, so
# a restarted container resumes: --state-dir /state.
VOLUME ["/state"]
# --status-addr 0.0.0.0:9090 serves /status and /metrics here.
EXPOSE 9090
ENTRYPOINT ["/keyjob"]
CMD ["--help"]
