# Sourced by scripts/bench.sh and scripts/profile-requests.sh: the server configuration they
# measure, written once.
#
#   write_server_config FILE DIR HTTP_PORT S3_PORT [CREDENTIAL]
#
# The default layout (tiered: embedded high-volume store in DIR/hv, filesystem long-term
# store in DIR/lt), auth off, logging at WARN, the down marker DIR/down, and the S3 listener
# on S3_PORT: zero-config, or with the access key `bench` (secret `bench-secret`, the
# objectstore-bench default) when CREDENTIAL is `credential`.
write_server_config() {
  local file=$1 dir=$2 http_port=$3 s3_port=$4 credential=${5:-}
  {
    echo "http_addr: \"127.0.0.1:$http_port\""
    echo "s3:"
    echo "  addr: \"127.0.0.1:$s3_port\""
    if [ "$credential" = credential ]; then
      echo "  credentials:"
      echo "    bench:"
      echo "      secret_access_key: \"bench-secret\""
    fi
    cat <<YAML
storage:
  type: tiered
  high_volume:
    type: embedded
    path: "$dir/hv"
  long_term:
    type: filesystem
    path: "$dir/lt"
http:
  down_marker: "$dir/down"
logging:
  level: WARN
YAML
  } >"$file"
}
