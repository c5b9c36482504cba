module github.com/mip4d/mip4d

go 1.26
