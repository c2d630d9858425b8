# Write the R files of the writer corpus (tests/writers/r_*).
#
# Called by make_writers.py as
#
#     Rscript make_r.R SRC OUT
#
# SRC holds the predictions and labels make_writers.py computed with
# scikit-learn, as CSV with full-precision floats; this script only gives them
# R types (factor, logical, integer) and writes them with R's own writers and
# their default options, the way an R user saves a data frame:
#
#   write.csv(df, f)                    row names under an empty header ""
#   write.csv(df, f, row.names = FALSE)
#   write.table(df, f, sep = "\t")      row names, header one field short
#
# R writes doubles with 15 significant digits. R is not needed to run the
# tests: the files it writes are committed.

args <- commandArgs(trailingOnly = TRUE)
src <- args[[1]]
out <- args[[2]]

read_src <- function(name) {
  read.csv(file.path(src, name), stringsAsFactors = FALSE, check.names = FALSE)
}
dest <- function(name) file.path(out, name)

# iris, multiclass, factor labels in a column named as in R's own iris data;
# row names are the row numbers the test rows had before the split.
iris <- read_src("iris.csv")
rownames(iris) <- as.character(iris$rowname)
iris$rowname <- NULL
iris$Species <- factor(iris$Species)
write.csv(iris, dest("r_write_csv.csv"))

# The same, TSV with write.table's defaults (header one field short).
names(iris)[names(iris) == "Species"] <- "label"
write.table(iris, dest("r_write_table_factor.tsv"), sep = "\t")

# Binary, logical labels TRUE/FALSE.
bin <- read_src("bool.csv")
bin$truth <- as.logical(bin$truth)
write.csv(bin, dest("r_write_csv_logical.csv"))
write.csv(bin, dest("r_write_csv_norownames.csv"), row.names = FALSE)
write.table(bin, dest("r_write_table.tsv"), sep = "\t")

# Multiclass, integer labels 0..2 indexing the columns p_setosa, ... in order.
ints <- read_src("iris_int.csv")
ints$y <- as.integer(ints$y)
write.csv(ints, dest("r_write_csv_int.csv"), row.names = FALSE)

# Two files, paired by position: wine predictions (class_0, class_1, class_2)
# and factor labels with the same names, both with default row names.
wine_p <- read_src("wine_p.csv")
wine_y <- read_src("wine_y.csv")
wine_y$label <- factor(wine_y$label)
write.csv(wine_p, dest("r_wine_preds.csv"))
write.csv(wine_y, dest("r_wine_labels.csv"))
